// Tests of module MGRIT (see DESIGN.md).
