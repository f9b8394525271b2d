//! Native image stages: the shared geometry and the CPU (rayon) implementation.
