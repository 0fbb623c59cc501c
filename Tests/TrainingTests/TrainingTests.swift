// Tests of module Training (see DESIGN.md).
