// Training: data sets, mini-batches, optimizers, layer-serial and one-shot layer-parallel loops, checkpoints, run logs.
