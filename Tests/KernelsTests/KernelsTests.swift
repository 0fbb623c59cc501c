// Tests of module Kernels (see DESIGN.md).
