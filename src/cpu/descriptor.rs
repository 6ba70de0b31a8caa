//! GDT/LDT/IDT/TSS descriptors (to be written).
