//! The host side: terminal console and stdin, on their own threads, talking to the machine
//! through channels. Nothing here is needed by the CPU, memory, devices or machine.

pub mod console;
