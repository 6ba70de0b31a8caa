//! Task switches through TSS descriptors and task gates (to be written).
