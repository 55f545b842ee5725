//! A minimal store-only (uncompressed) zip writer, enough for go module zips.
//!
//! Written here rather than pulled in as a crate: go's module zip reader only
//! needs local headers, a central directory and CRC-32s, which is ~100 lines.

/// Builds a zip archive holding `entries` (name, contents), stored uncompressed,
/// with a fixed timestamp so the same input always gives the same bytes.
pub fn store_zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    const DOS_TIME: u16 = 0; // 00:00:00
    const DOS_DATE: u16 = (2020 - 1980) << 9 | 1 << 5 | 1; // 2020-01-01

    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = u32::try_from(out.len()).expect("zip too large");
        let crc = crc32(data);
        let size = u32::try_from(data.len()).expect("entry too large");
        let name_len = u16::try_from(name.len()).expect("name too long");

        put32(&mut out, 0x0403_4b50); // local file header
        put16(&mut out, 20); // version needed
        put16(&mut out, 0); // flags
        put16(&mut out, 0); // method: store
        put16(&mut out, DOS_TIME);
        put16(&mut out, DOS_DATE);
        put32(&mut out, crc);
        put32(&mut out, size); // compressed
        put32(&mut out, size); // uncompressed
        put16(&mut out, name_len);
        put16(&mut out, 0); // extra length
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        put32(&mut central, 0x0201_4b50); // central directory header
        put16(&mut central, 0x031e); // made by: unix, 3.0
        put16(&mut central, 20);
        put16(&mut central, 0);
        put16(&mut central, 0);
        put16(&mut central, DOS_TIME);
        put16(&mut central, DOS_DATE);
        put32(&mut central, crc);
        put32(&mut central, size);
        put32(&mut central, size);
        put16(&mut central, name_len);
        put16(&mut central, 0); // extra
        put16(&mut central, 0); // comment
        put16(&mut central, 0); // disk
        put16(&mut central, 0); // internal attributes
        put32(&mut central, 0o100644 << 16); // external: regular file, rw-r--r--
        put32(&mut central, offset);
        central.extend_from_slice(name.as_bytes());
    }
    let dir_offset = u32::try_from(out.len()).expect("zip too large");
    let dir_size = u32::try_from(central.len()).expect("zip too large");
    let count = u16::try_from(entries.len()).expect("too many entries");
    out.extend_from_slice(&central);
    put32(&mut out, 0x0605_4b50); // end of central directory
    put16(&mut out, 0);
    put16(&mut out, 0);
    put16(&mut out, count);
    put16(&mut out, count);
    put32(&mut out, dir_size);
    put32(&mut out, dir_offset);
    put16(&mut out, 0); // comment length
    out
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// CRC-32 (IEEE 802.3, reflected, as zip uses).
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}
