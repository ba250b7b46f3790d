//! `mamori-loadgen --from FILE`: the lines of a dump go out over the
//! connections as the dump split them, whole and each exactly once.

use std::io::Read;
use std::net::TcpListener;
use std::process::Command;

/// Runs the load generator with `args` and then `path`; its output.
fn loadgen(args: &[&str], path: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_mamori-loadgen"))
        .args(args)
        .arg(path)
        .output()
        .expect("run the load generator");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_dump_is_sent_whole_over_its_connections() {
    let dir = tempfile::tempdir().expect("temp dir");
    let dump = dir.path().join("lines.syslog");
    let args = [
        "--kind",
        "windows-json",
        "--count",
        "1001",
        "--connections",
        "3",
        "--dump",
    ];
    loadgen(&args, &dump);
    let file = std::fs::read_to_string(&dump).expect("read the dump");

    let listener = TcpListener::bind("127.0.0.1:0").expect("listen on 127.0.0.1");
    let addr = listener.local_addr().expect("address").to_string();
    let receiver = std::thread::spawn(move || {
        (0..3)
            .map(|_| {
                let (mut s, _) = listener.accept().expect("accept");
                std::thread::spawn(move || {
                    let mut got = String::new();
                    s.read_to_string(&mut got).expect("read a connection");
                    got
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().expect("reader"))
            .collect::<Vec<String>>()
    });
    let sent = loadgen(&["--to", &addr, "--connections", "3", "--from"], &dump);
    assert!(sent.contains("sent lines=1001"), "{sent}");

    let mut parts = receiver.join().expect("receiver");
    // Connections may be accepted in any order; each part is a run of the
    // file's lines, so ordering them by where they start gives the file.
    parts.sort_by_key(|p| file.find(p.as_str()).unwrap_or(usize::MAX));
    let mut sizes: Vec<usize> = parts.iter().map(|p| p.lines().count()).collect();
    assert_eq!(parts.concat(), file, "every line once, in the dump's order");
    assert!(parts.iter().all(|p| p.ends_with('\n')), "whole lines only");
    sizes.sort_unstable();
    assert_eq!(sizes, [333, 333, 335]);
}
