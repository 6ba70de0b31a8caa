//! RDMSR/WRMSR: the model-specific registers (to be written).
