// Tests of module ResNet (see DESIGN.md).
