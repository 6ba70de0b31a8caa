//! The structures of the Linux x86 boot protocol (Documentation/arch/x86/boot.rst and
//! zero-page.rst; arch/x86/include/uapi/asm/bootparam.h): the setup header, `struct
//! boot_params` (the "zero page") and `struct screen_info`. Offsets are from the start of
//! the image / the zero page, which share the layout of their first 0x290 bytes.

use super::layout::layout;

layout! {
    /// `struct setup_header`, at 0x1F1 of both the bzImage and the zero page (boot.rst,
    /// "The real-mode kernel header"); SIZE is its end.
    hdr, size 0x26C {
        /// Size of the setup in 512-byte sectors, the boot sector excluded (0 means 4).
        SETUP_SECTS: 0x1F1, 1;
        /// Mount root read-only (obsolete).
        ROOT_FLAGS: 0x1F2, 2;
        /// Size of the protected-mode code in 16-byte paragraphs.
        SYSSIZE: 0x1F4, 4;
        /// Obsolete.
        RAM_SIZE: 0x1F8, 2;
        /// Video mode control.
        VID_MODE: 0x1FA, 2;
        /// Default root device (obsolete).
        ROOT_DEV: 0x1FC, 2;
        /// 0xAA55.
        BOOT_FLAG: 0x1FE, 2;
        /// A short jump; its second byte gives the header's end (0x202 + byte).
        JUMP: 0x200, 2;
        /// "HdrS".
        HEADER: 0x202, 4;
        /// Boot protocol version (major << 8 | minor).
        VERSION: 0x206, 2;
        /// Boot loader hook (real mode).
        REALMODE_SWTCH: 0x208, 4;
        /// Obsolete.
        START_SYS_SEG: 0x20C, 2;
        /// Pointer to the kernel version string.
        KERNEL_VERSION: 0x20E, 2;
        /// Boot loader identifier (0xFF: undefined).
        TYPE_OF_LOADER: 0x210, 1;
        /// Boot protocol option flags.
        LOADFLAGS: 0x211, 1;
        /// Move to high memory size (obsolete).
        SETUP_MOVE_SIZE: 0x212, 2;
        /// The 32-bit entry point (where the protected-mode kernel is loaded).
        CODE32_START: 0x214, 4;
        /// initrd load address.
        RAMDISK_IMAGE: 0x218, 4;
        /// initrd size.
        RAMDISK_SIZE: 0x21C, 4;
        /// Obsolete.
        BOOTSECT_KLUDGE: 0x220, 4;
        /// Free memory after setup end (real mode).
        HEAP_END_PTR: 0x224, 2;
        /// Extended boot loader version.
        EXT_LOADER_VER: 0x226, 1;
        /// Extended boot loader ID.
        EXT_LOADER_TYPE: 0x227, 1;
        /// 32-bit pointer to the kernel command line.
        CMD_LINE_PTR: 0x228, 4;
        /// Highest legal initrd address (its last byte).
        INITRD_ADDR_MAX: 0x22C, 4;
        /// Physical address alignment required for the kernel.
        KERNEL_ALIGNMENT: 0x230, 4;
        /// Whether the kernel is relocatable.
        RELOCATABLE_KERNEL: 0x234, 1;
        /// Minimum alignment, as a power of two.
        MIN_ALIGNMENT: 0x235, 1;
        /// Boot protocol option flags (XLF_*).
        XLOADFLAGS: 0x236, 2;
        /// Maximum size of the kernel command line.
        CMDLINE_SIZE: 0x238, 4;
        /// Hardware subarchitecture (0: PC).
        HARDWARE_SUBARCH: 0x23C, 4;
        /// Subarchitecture-specific data.
        HARDWARE_SUBARCH_DATA: 0x240, 8;
        /// Offset of the kernel payload (from the protected-mode code).
        PAYLOAD_OFFSET: 0x248, 4;
        /// Length of the kernel payload.
        PAYLOAD_LENGTH: 0x24C, 4;
        /// 64-bit pointer to a linked list of `struct setup_data`.
        SETUP_DATA: 0x250, 8;
        /// Preferred loading address.
        PREF_ADDRESS: 0x258, 8;
        /// Linear memory required during initialisation.
        INIT_SIZE: 0x260, 4;
        /// Offset of the EFI handover entry point.
        HANDOVER_OFFSET: 0x264, 4;
        /// Offset of `struct kernel_info`.
        KERNEL_INFO_OFFSET: 0x268, 4;
    }
}

layout! {
    /// `struct boot_params`, the zero page (zero-page.rst).
    bp, size 0x1000 {
        /// `struct screen_info`.
        SCREEN_INFO: 0x000, 0x40;
        /// `struct apm_bios_info`.
        APM_BIOS_INFO: 0x040, 0x14;
        /// Padding.
        PAD2: 0x054, 4;
        /// Physical address of the tboot shared page.
        TBOOT_ADDR: 0x058, 8;
        /// `struct ist_info` (SpeedStep).
        IST_INFO: 0x060, 0x10;
        /// Physical address of the ACPI RSDP.
        ACPI_RSDP_ADDR: 0x070, 8;
        /// Padding.
        PAD3: 0x078, 8;
        /// Obsolete hard disk 0 parameters.
        HD0_INFO: 0x080, 0x10;
        /// Obsolete hard disk 1 parameters.
        HD1_INFO: 0x090, 0x10;
        /// Obsolete system description table.
        SYS_DESC_TABLE: 0x0A0, 0x10;
        /// OLPC firmware header.
        OLPC_OFW_HEADER: 0x0B0, 0x10;
        /// Upper 32 bits of the initrd address.
        EXT_RAMDISK_IMAGE: 0x0C0, 4;
        /// Upper 32 bits of the initrd size.
        EXT_RAMDISK_SIZE: 0x0C4, 4;
        /// Upper 32 bits of the command line pointer.
        EXT_CMD_LINE_PTR: 0x0C8, 4;
        /// Padding.
        PAD4: 0x0CC, 0x70;
        /// Confidential-computing blob.
        CC_BLOB_ADDRESS: 0x13C, 4;
        /// Video mode EDID.
        EDID_INFO: 0x140, 0x80;
        /// EFI system information.
        EFI_INFO: 0x1C0, 0x20;
        /// KiB of memory above 1 MiB (used without an e820 map).
        ALT_MEM_K: 0x1E0, 4;
        /// Scratch field for the kernel's setup code.
        SCRATCH: 0x1E4, 4;
        /// Number of entries in `e820_table`.
        E820_ENTRIES: 0x1E8, 1;
        /// Number of entries in `eddbuf`.
        EDDBUF_ENTRIES: 0x1E9, 1;
        /// Number of entries in `edd_mbr_sig_buffer`.
        EDD_MBR_SIG_BUF_ENTRIES: 0x1EA, 1;
        /// Keyboard status.
        KBD_STATUS: 0x1EB, 1;
        /// Secure boot state.
        SECURE_BOOT: 0x1EC, 1;
        /// Padding.
        PAD5: 0x1ED, 2;
        /// Nonzero tells the kernel the loader did not clear the zero page.
        SENTINEL: 0x1EF, 1;
        /// Padding.
        PAD6: 0x1F0, 1;
        /// `struct setup_header` (see [`super::hdr`]).
        HDR: 0x1F1, 0x7B;
        /// Padding up to the EDD signatures.
        PAD7: 0x26C, 0x24;
        /// EDD MBR signatures.
        EDD_MBR_SIG_BUFFER: 0x290, 0x40;
        /// The e820 map: up to 128 packed 20-byte entries.
        E820_TABLE: 0x2D0, 0xA00;
        /// Padding.
        PAD8: 0xCD0, 0x30;
        /// EDD information.
        EDDBUF: 0xD00, 0x1EC;
        /// Padding to the end of the page.
        PAD9: 0xEEC, 0x114;
    }
}

layout! {
    /// `struct screen_info` (include/uapi/linux/screen_info.h), at offset 0 of the zero
    /// page.
    si, size 0x40 {
        /// Cursor column.
        ORIG_X: 0x00, 1;
        /// Cursor row.
        ORIG_Y: 0x01, 1;
        /// KiB of memory above 1 MiB (obsolete, capped at 0xFFFF).
        EXT_MEM_K: 0x02, 2;
        /// Active video page.
        ORIG_VIDEO_PAGE: 0x04, 2;
        /// BIOS video mode (3: 80x25 colour text).
        ORIG_VIDEO_MODE: 0x06, 1;
        /// Text columns.
        ORIG_VIDEO_COLS: 0x07, 1;
        /// Flags.
        FLAGS: 0x08, 1;
        /// Unused.
        UNUSED2: 0x09, 1;
        /// EGA BX (0x10 would mean mono/CGA).
        ORIG_VIDEO_EGA_BX: 0x0A, 2;
        /// Unused.
        UNUSED3: 0x0C, 2;
        /// Text lines.
        ORIG_VIDEO_LINES: 0x0E, 1;
        /// Video type: 1 VGA, 0x23 VESA linear framebuffer.
        ORIG_VIDEO_IS_VGA: 0x0F, 1;
        /// Character height in scan lines.
        ORIG_VIDEO_POINTS: 0x10, 2;
        /// Framebuffer width.
        LFB_WIDTH: 0x12, 2;
        /// Framebuffer height.
        LFB_HEIGHT: 0x14, 2;
        /// Bits per pixel.
        LFB_DEPTH: 0x16, 2;
        /// Framebuffer base (low 32 bits).
        LFB_BASE: 0x18, 4;
        /// Framebuffer size in 64-KiB units (for VESA).
        LFB_SIZE: 0x1C, 4;
        /// Command-line magic (obsolete).
        CL_MAGIC: 0x20, 2;
        /// Command-line offset (obsolete).
        CL_OFFSET: 0x22, 2;
        /// Bytes per line.
        LFB_LINELENGTH: 0x24, 2;
        /// Red field size.
        RED_SIZE: 0x26, 1;
        /// Red field position.
        RED_POS: 0x27, 1;
        /// Green field size.
        GREEN_SIZE: 0x28, 1;
        /// Green field position.
        GREEN_POS: 0x29, 1;
        /// Blue field size.
        BLUE_SIZE: 0x2A, 1;
        /// Blue field position.
        BLUE_POS: 0x2B, 1;
        /// Reserved field size.
        RSVD_SIZE: 0x2C, 1;
        /// Reserved field position.
        RSVD_POS: 0x2D, 1;
        /// VESA protected-mode interface segment.
        VESAPM_SEG: 0x2E, 2;
        /// Its offset.
        VESAPM_OFF: 0x30, 2;
        /// Video pages.
        PAGES: 0x32, 2;
        /// VESA mode attributes.
        VESA_ATTRIBUTES: 0x34, 2;
        /// Capabilities (bit 1: 64-bit framebuffer base).
        CAPABILITIES: 0x36, 4;
        /// Framebuffer base, high 32 bits.
        EXT_LFB_BASE: 0x3A, 4;
        /// Reserved.
        RESERVED: 0x3E, 2;
    }
}

/// `loadflags`: the protected-mode code is loaded at 0x100000.
pub const LOADED_HIGH: u8 = 1 << 0;
/// `loadflags`: `heap_end_ptr` is valid.
pub const CAN_USE_HEAP: u8 = 1 << 7;
/// `xloadflags`: the kernel has the 64-bit entry point at startup_32 + 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;
/// `orig_video_isVGA`: VGA text.
pub const VIDEO_TYPE_VGA: u8 = 1;
/// `orig_video_isVGA`: VESA VGA in graphic mode (a linear framebuffer).
pub const VIDEO_TYPE_VLFB: u8 = 0x23;
/// `capabilities`: the framebuffer base has 64 bits (`ext_lfb_base` is valid).
pub const VIDEO_CAPABILITY_64BIT_BASE: u32 = 1 << 1;
/// Entries `boot_params.e820_table` holds.
pub const E820_MAX_ENTRIES_ZEROPAGE: usize = 128;

#[cfg(test)]
mod tests {
    use super::super::layout::tests::assert_tiles;
    use super::*;

    #[test]
    fn setup_header_tiles_from_0x1f1_to_0x26c() {
        assert_tiles(hdr::FIELDS, 0x1F1, hdr::SIZE);
    }

    #[test]
    fn boot_params_tiles_the_zero_page() {
        assert_tiles(bp::FIELDS, 0, bp::SIZE);
        assert_eq!(bp::HDR + (hdr::SIZE - hdr::SETUP_SECTS), bp::PAD7);
        assert_eq!(bp::E820_TABLE + E820_MAX_ENTRIES_ZEROPAGE * 20, bp::PAD8);
    }

    #[test]
    fn screen_info_tiles_its_64_bytes() {
        assert_tiles(si::FIELDS, 0, si::SIZE);
        assert_eq!(si::SIZE, bp::APM_BIOS_INFO);
    }
}
