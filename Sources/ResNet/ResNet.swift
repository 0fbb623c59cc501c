// ResNet: network description, parameters, the forward/adjoint propagators as MGRIT problems, loss, and the layer-serial passes.
