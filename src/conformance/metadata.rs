//! The `metadata.json` of a SingleStepTests folder: per opcode (and per ModRM `reg` for group
//! opcodes) a status that says whether the tests count, and the mask of the FLAGS bits the
//! recorded CPU leaves undefined.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::Error;

/// What the metadata says about an opcode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// A documented instruction.
    Normal,
    /// A prefix byte: the opcode that follows decides.
    Prefix,
    /// An undocumented second encoding of a documented instruction (counts).
    Alias,
    /// An undocumented instruction with a known behaviour (counts).
    Undocumented,
    /// No defined behaviour: the tests are skipped.
    Undefined,
    /// An x87 escape: the tests are skipped (no coprocessor was attached).
    Fpu,
    /// An escape byte whose second byte names the instruction (0F on the 80286).
    Extension,
}

impl Status {
    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "normal" => Status::Normal,
            "prefix" => Status::Prefix,
            "alias" => Status::Alias,
            "undocumented" => Status::Undocumented,
            "undefined" => Status::Undefined,
            "fpu" => Status::Fpu,
            "extension" => Status::Extension,
            _ => return None,
        })
    }

    /// Whether tests of this status are left out of the pass rate.
    pub fn skipped(self) -> bool {
        matches!(self, Status::Undefined | Status::Fpu)
    }
}

/// One opcode's (or one ModRM `reg` form's) entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// Whether and how the tests count.
    pub status: Status,
    /// ANDed with the expected and the actual FLAGS (0xFFFF where all flags are defined).
    pub flags_mask: u16,
}

/// An opcode's entry: one for all forms, or one per ModRM `reg`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Plain(Info),
    ByReg([Info; 8]),
}

/// A folder's metadata.
#[derive(Clone, Debug, Default)]
pub struct Metadata {
    opcodes: HashMap<String, Entry>,
}

fn parse_info(v: &Value) -> Result<Info, String> {
    let status = v
        .get("status")
        .and_then(Value::as_str)
        .ok_or("an entry has no status")?;
    let status = Status::parse(status).ok_or_else(|| format!("unknown status `{status}`"))?;
    let flags_mask = match v.get("flags-mask") {
        None => 0xFFFF,
        Some(m) => m
            .as_u64()
            .filter(|&m| m <= 0xFFFF)
            .ok_or("flags-mask is not a 16-bit number")? as u16,
    };
    Ok(Info { status, flags_mask })
}

impl Metadata {
    /// Parses the text of a `metadata.json`.
    pub fn parse(text: &str) -> Result<Metadata, String> {
        let root: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let ops = root
            .get("opcodes")
            .and_then(Value::as_object)
            .ok_or("no `opcodes` object")?;
        let mut opcodes = HashMap::new();
        for (key, v) in ops {
            let entry = match v.get("reg").and_then(Value::as_object) {
                Some(regs) => {
                    // A reg the metadata does not list has no defined behaviour.
                    let mut by = [Info {
                        status: Status::Undefined,
                        flags_mask: 0xFFFF,
                    }; 8];
                    for (r, info) in regs {
                        let i: usize = r
                            .parse()
                            .ok()
                            .filter(|&i| i < 8)
                            .ok_or_else(|| format!("{key}: bad reg `{r}`"))?;
                        by[i] = parse_info(info).map_err(|e| format!("{key}.{r}: {e}"))?;
                    }
                    Entry::ByReg(by)
                }
                None => Entry::Plain(parse_info(v).map_err(|e| format!("{key}: {e}"))?),
            };
            opcodes.insert(key.to_ascii_uppercase(), entry);
        }
        Ok(Metadata { opcodes })
    }

    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Metadata, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::file(path, e.to_string()))?;
        Metadata::parse(&text).map_err(|e| Error::file(path, e))
    }

    fn entry(&self, key: &str) -> Option<&Entry> {
        self.opcodes.get(key)
    }

    fn status_of_byte(&self, b: u8) -> Option<Status> {
        match self.entry(&format!("{b:02X}"))? {
            Entry::Plain(i) => Some(i.status),
            Entry::ByReg(_) => None,
        }
    }

    /// The entry for an instruction's bytes: prefixes are skipped, an extension byte takes
    /// the next byte into the key, and group opcodes pick by ModRM `reg`. `None` if the
    /// metadata does not know the opcode.
    pub fn classify(&self, bytes: &[u8]) -> Option<Info> {
        let mut i = 0;
        while i < bytes.len() && self.status_of_byte(bytes[i]) == Some(Status::Prefix) {
            i += 1;
        }
        let mut key = format!("{:02X}", bytes.get(i)?);
        if self.status_of_byte(bytes[i]) == Some(Status::Extension) {
            i += 1;
            key.push_str(&format!("{:02X}", bytes.get(i)?));
        }
        match self.entry(&key)? {
            Entry::Plain(info) => Some(*info),
            Entry::ByReg(by) => {
                let modrm = *bytes.get(i + 1)?;
                Some(by[((modrm >> 3) & 7) as usize])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{"cpu": "286", "opcodes": {
        "00": {"status": "normal", "arch": "86"},
        "08": {"status": "normal", "flags": ".....a..", "flags-mask": 65519},
        "26": {"status": "prefix"},
        "F3": {"status": "prefix"},
        "0F": {"status": "extension"},
        "0F01": {"reg": {"0": {"status": "normal"}, "5": {"status": "undefined"}}},
        "D8": {"status": "fpu"},
        "F6": {"reg": {"1": {"status": "alias", "flags-mask": 65519}, "4": {"status": "normal"}}}
    }}"#;

    #[test]
    fn classifies_through_prefixes_extensions_and_reg_fields() {
        let m = Metadata::parse(SAMPLE).unwrap();
        let normal = Info {
            status: Status::Normal,
            flags_mask: 0xFFFF,
        };
        assert_eq!(m.classify(&[0x00, 0xC0]), Some(normal));
        assert_eq!(
            m.classify(&[0x26, 0xF3, 0x08, 0x07]),
            Some(Info {
                status: Status::Normal,
                flags_mask: 65519
            })
        );
        assert_eq!(
            m.classify(&[0x0F, 0x01, 0x28]).map(|i| i.status),
            Some(Status::Undefined),
            "0F 01 /5"
        );
        assert_eq!(m.classify(&[0x0F, 0x01, 0x00]), Some(normal));
        assert_eq!(
            m.classify(&[0xF6, 0x08, 0x12]),
            Some(Info {
                status: Status::Alias,
                flags_mask: 65519
            })
        );
        assert_eq!(
            m.classify(&[0xF6, 0x38]).map(|i| i.status),
            Some(Status::Undefined),
            "unlisted reg"
        );
        assert!(m.classify(&[0xD8, 0xC0]).unwrap().status.skipped());
        assert_eq!(m.classify(&[0x26]), None, "only prefixes");
        assert_eq!(m.classify(&[0x99]), None, "unknown opcode");
    }

    #[test]
    fn rejects_malformed_metadata() {
        assert!(Metadata::parse("{}").is_err());
        assert!(Metadata::parse(r#"{"opcodes": {"00": {"status": "weird"}}}"#).is_err());
        assert!(Metadata::parse(
            r#"{"opcodes": {"00": {"status": "normal", "flags-mask": 70000}}}"#
        )
        .is_err());
    }
}
