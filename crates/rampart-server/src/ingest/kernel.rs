//! Datagrams the kernel dropped before Rampart could read them: when the
//! UDP receive buffer overflows, Linux counts the loss per socket in the
//! `drops` column of `/proc/net/udp` and `/proc/net/udp6`. The UDP loop
//! reads it once a second into `rampart_ingest_udp_kernel_drops_total`, so
//! losses Rampart never saw are counted too. Elsewhere the metric is absent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The kernel's drop count of the UDP socket bound to `local`, if the
/// table lists it.
pub fn udp_drops(table: &str, local: SocketAddr) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let addr = parse_addr(cols.get(1)?)?;
        if addr != local {
            return None;
        }
        cols.last()?.parse().ok()
    })
}

/// `0100007F:159A` (IPv4) or 32 hex digits and a port (IPv6): the address
/// as the kernel prints it, in host (little-endian) 32-bit words.
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |hex: &str| u32::from_str_radix(hex, 16).ok().map(u32::swap_bytes);
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut octets = [0u8; 16];
            for (i, chunk) in octets.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?.to_be_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(octets))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Reads the current drop count of the socket bound to `local` (Linux).
pub fn read_udp_drops(local: SocketAddr) -> Option<u64> {
    let path = if local.is_ipv4() { "/proc/net/udp" } else { "/proc/net/udp6" };
    udp_drops(&std::fs::read_to_string(path).ok()?, local)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  123: 0100007F:159A 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17
  124: 00000000:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4243 2 0000000000000000 0
";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
   7: 00000000000000000000000001000000:159A 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 3
";

    #[test]
    fn finds_the_drop_count_of_the_socket_bound_to_an_address() {
        assert_eq!(udp_drops(UDP, "127.0.0.1:5530".parse().unwrap()), Some(17));
        assert_eq!(udp_drops(UDP, "0.0.0.0:53".parse().unwrap()), Some(0));
        assert_eq!(udp_drops(UDP, "127.0.0.1:5531".parse().unwrap()), None);
        assert_eq!(udp_drops(UDP6, "[::1]:5530".parse().unwrap()), Some(3));
        assert_eq!(udp_drops("garbage\nnot a table", "[::1]:5530".parse().unwrap()), None);
    }
}
