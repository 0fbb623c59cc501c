// Tests of module Topology (see DESIGN.md).
