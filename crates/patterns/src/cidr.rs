//! `cidr` patterns: an IPv4 or IPv6 network; host bits in the pattern are ignored.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq)]
pub struct Cidr {
    net: u128,
    bits: u32,
    v6: bool,
}

fn to_u128(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(a) => (u32::from(a) as u128, false),
        IpAddr::V6(a) => (u128::from(a), true),
    }
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (ip, bits) = s
            .split_once('/')
            .ok_or("Malformed CIDR, one '/' required")?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| format!("Malformed CIDR, invalid address: {ip}"))?;
        let bits: u32 = bits
            .parse()
            .map_err(|_| "Malformed CIDR, mask bits must be an integer".to_string())?;
        let (net, v6) = to_u128(ip);
        let width = if v6 { 128 } else { 32 };
        if bits >= width {
            return Err(format!(
                "{} mask bits must be < {width}",
                if v6 { "IPv6" } else { "IPv4" }
            ));
        }
        Ok(Cidr { net, bits, v6 })
    }

    pub fn contains(&self, s: &str) -> bool {
        let Ok(ip) = s.parse::<IpAddr>() else {
            return false;
        };
        let (x, v6) = to_u128(ip);
        if v6 != self.v6 {
            return false;
        }
        let width = if v6 { 128 } else { 32 };
        let shift = width - self.bits;
        (x >> shift) == (self.net >> shift)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let c = Cidr::parse("10.0.0.77/24").unwrap();
        assert!(
            c.contains("10.0.0.200")
                && !c.contains("10.0.1.1")
                && !c.contains("::1")
                && !c.contains("nope")
        );
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains("2001:0db8:0000:0000:0000:0000:0000:0001"));
        assert!(Cidr::parse("10.0.0.1/32").is_err());
        assert!(Cidr::parse("bad-filter").is_err());
    }
}
