"""Atomic PNG output for the plot scripts, as layerpar writes its result files: the
figure goes to a temporary beside the target (.NAME.tmp-PID, named as layerpar's) and
is renamed over it, so a reader, or a run stopped mid-plot, never sees a partial PNG."""
import os


def save(fig, out, dpi=120):
    tmp = os.path.join(os.path.dirname(out) or ".", f".{os.path.basename(out)}.tmp-{os.getpid()}")
    try:
        fig.savefig(tmp, dpi=dpi, format="png")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
