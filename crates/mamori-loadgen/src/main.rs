//! `mamori-loadgen`: sends generated syslog lines to a receiver over TCP
//! (newline framing) or UDP, as fast as possible or at a set rate, and prints
//! what it sent. It can also write the lines to a file (`--dump`) and send
//! such a file as it is (`--from`).

use anyhow::{Context, Result};
use clap::Parser;
use mamori_loadgen::{Generator, Kind};
use std::io::Write;
use std::time::{Duration, Instant};

/// Load generator for mamori's benchmarks (send only to machines you run).
#[derive(Debug, Parser)]
struct Args {
    /// Receiver address, e.g. 127.0.0.1:5514.
    #[arg(long, required_unless_present = "dump")]
    to: Option<String>,
    /// tcp or udp.
    #[arg(long, default_value = "tcp")]
    proto: String,
    /// fortigate or windows-json.
    #[arg(long, default_value = "fortigate")]
    kind: Kind,
    /// Number of lines to send (in total, over all connections).
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Lines per second in total (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Parallel TCP connections.
    #[arg(long, default_value_t = 1)]
    connections: u64,
    /// Seed of the generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Write the lines to this file instead of sending (for size baselines,
    /// and to give a peer the very lines `--connections N` would send).
    #[arg(long)]
    dump: Option<std::path::PathBuf>,
    /// Send the lines of this file (one written by `--dump`) instead of
    /// generating them, over TCP as fast as possible: connection 1 the
    /// first share, and so on, as `--dump` wrote them. Generating is then
    /// not part of what a benchmark measures.
    #[arg(long, conflicts_with_all = ["dump", "rate"])]
    from: Option<std::path::PathBuf>,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let conns = a.connections.max(1);
    // Connection c sends lines from seed + c.
    let share = |c: u64| (a.seed + c, lines_of(c, a.count, conns));
    if let Some(path) = &a.dump {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut bytes = 0u64;
        for c in 0..conns {
            let (seed, n) = share(c);
            let mut g = Generator::new(a.kind, seed);
            for _ in 0..n {
                let l = g.next_line();
                bytes += l.len() as u64 + 1;
                writeln!(f, "{l}")?;
            }
        }
        f.flush()?;
        println!("lines={} bytes={bytes}", a.count);
        return Ok(());
    }
    if let Some(path) = &a.from {
        return send_file(a.to.as_deref().unwrap_or_default(), path, conns);
    }
    let started = Instant::now();
    let mut handles = Vec::new();
    for c in 0..conns {
        let (seed, n) = share(c);
        let rate = a.rate / conns;
        let (to, proto, kind) = (a.to.clone().unwrap_or_default(), a.proto.clone(), a.kind);
        handles.push(std::thread::spawn(move || {
            send(&to, &proto, kind, seed, n, rate)
        }));
    }
    let mut bytes = 0;
    for h in handles {
        bytes += h.join().map_err(|_| anyhow::anyhow!("sender panicked"))??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent lines={} bytes={bytes} seconds={secs:.3} lines_per_s={:.0}",
        a.count,
        a.count as f64 / secs
    );
    Ok(())
}

/// How many of `count` lines connection `c` of `conns` sends: an equal
/// share, and the first one also the remainder.
fn lines_of(c: u64, count: u64, conns: u64) -> u64 {
    count / conns + if c == 0 { count % conns } else { 0 }
}

/// Sends the lines of `path` over `conns` TCP connections, split as
/// `--dump` wrote them (see [`lines_of`]).
fn send_file(to: &str, path: &std::path::Path, conns: u64) -> Result<()> {
    let data = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let line_ends: Vec<usize> = memchr::memchr_iter(b'\n', &data).map(|i| i + 1).collect();
    let lines = line_ends.len() as u64;
    let mut parts = Vec::new();
    let (mut from, mut sent) = (0, 0u64);
    for c in 0..conns {
        sent += lines_of(c, lines, conns);
        // The last connection also takes a last line without a newline.
        let end = if c + 1 == conns {
            data.len()
        } else if sent == 0 {
            0
        } else {
            line_ends[sent as usize - 1]
        };
        parts.push(&data[from..end]);
        from = end;
    }
    let started = Instant::now();
    let bytes: u64 = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .map(|part| {
                scope.spawn(move || -> Result<u64> {
                    let mut s = std::net::TcpStream::connect(to)
                        .with_context(|| format!("connect {to}"))?;
                    s.write_all(part)?;
                    s.flush()?;
                    Ok(part.len() as u64)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("sender panicked"))?)
            .sum::<Result<u64>>()
    })?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "sent lines={lines} bytes={bytes} seconds={secs:.3} lines_per_s={:.0}",
        lines as f64 / secs
    );
    Ok(())
}

fn send(to: &str, proto: &str, kind: Kind, seed: u64, n: u64, rate: u64) -> Result<u64> {
    let mut g = Generator::new(kind, seed);
    let start = Instant::now();
    let mut bytes = 0u64;
    let pace = |i: u64| {
        if rate > 0 {
            let due = Duration::from_secs_f64(i as f64 / rate as f64);
            let now = start.elapsed();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    };
    match proto {
        "tcp" => {
            let s = std::net::TcpStream::connect(to).with_context(|| format!("connect {to}"))?;
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, s);
            for i in 0..n {
                if rate > 0 && i % 100 == 0 {
                    w.flush()?;
                    pace(i);
                }
                let l = g.next_line();
                bytes += l.len() as u64 + 1;
                w.write_all(l.as_bytes())?;
                w.write_all(b"\n")?;
            }
            w.flush()?;
        }
        "udp" => {
            let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
            for i in 0..n {
                if rate > 0 && i % 100 == 0 {
                    pace(i);
                }
                let l = g.next_line();
                bytes += l.len() as u64;
                s.send_to(l.as_bytes(), to)?;
            }
        }
        other => anyhow::bail!("unknown protocol {other:?}: use tcp or udp"),
    }
    Ok(bytes)
}
