// MGRIT: multigrid-reduction-in-time over a small problem protocol (see DESIGN.md). Knows nothing about neural networks or MPI.
