//! Line generators for mamori's ingest benchmarks.
//!
//! Each generator makes realistic, varied syslog lines (so that compression
//! and indexing see what they would see in a hospital, not one repeated
//! line): FortiGate traffic and VPN logs, and Windows Security / Sysmon
//! events as JSON the way Winlogbeat and NXLog send them. The lines are
//! deterministic for a seed, so runs can be compared.
//!
//! ```
//! use mamori_loadgen::{Kind, Generator};
//! let mut g = Generator::new(Kind::Fortigate, 7);
//! let line = g.next_line();
//! assert!(line.starts_with("<189>") && line.contains("logid="));
//! let mut w = Generator::new(Kind::WindowsJson, 7);
//! assert!(w.next_line().contains("\"EventID\""));
//! ```

/// Which kind of log to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// FortiGate key=value traffic (90 %) and SSL-VPN events.
    Fortigate,
    /// Windows Security and Sysmon events as NXLog-style JSON over syslog.
    WindowsJson,
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fortigate" => Ok(Kind::Fortigate),
            "windows-json" | "windows" => Ok(Kind::WindowsJson),
            o => Err(format!("unknown kind {o:?}: use fortigate or windows-json")),
        }
    }
}

/// A deterministic line generator.
#[derive(Debug, Clone)]
pub struct Generator {
    kind: Kind,
    state: u64,
    n: u64,
    base_epoch: u64,
}

const USERS: &[&str] = &[
    "yamada",
    "suzuki",
    "tanaka",
    "sato",
    "takahashi",
    "ito",
    "watanabe",
    "nakamura",
    "kobayashi",
    "kato",
    "vendor-maint",
    "admin",
];
const HOSTS: &[&str] = &[
    "EMR-SV01",
    "EMR-SV02",
    "PACS01",
    "NURSE-PC-014",
    "NURSE-PC-027",
    "RECEPT-PC-03",
    "AD01",
    "BACKUP01",
    "LAB-PC-05",
    "RAD-WS-02",
];
const IMAGES: &[&str] = &[
    r"C:\\Windows\\System32\\svchost.exe",
    r"C:\\Windows\\System32\\cmd.exe",
    r"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
    r"C:\\Program Files\\EMR\\emrclient.exe",
    r"C:\\Windows\\explorer.exe",
    r"C:\\Windows\\System32\\vssadmin.exe",
];
const APPS: &[&str] = &["HTTPS", "HTTP", "DNS", "RDP", "SMB", "LDAP", "NTP", "DICOM"];

impl Generator {
    /// A generator of `kind`, seeded.
    pub fn new(kind: Kind, seed: u64) -> Self {
        Generator {
            kind,
            state: seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1,
            n: 0,
            base_epoch: 1_795_482_000,
        }
    }

    fn rand(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items[(self.rand() % items.len() as u64) as usize]
    }

    fn ip_lan(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            self.rand() % 4,
            self.rand() % 32,
            1 + self.rand() % 250
        )
    }

    fn ip_wan(&mut self) -> String {
        format!("203.0.113.{}", 1 + self.rand() % 254)
    }

    /// The next line (without a trailing newline).
    pub fn next_line(&mut self) -> String {
        self.n += 1;
        let t = self.base_epoch + self.n / 1000;
        match self.kind {
            Kind::Fortigate => self.fortigate(t),
            Kind::WindowsJson => self.windows(t),
        }
    }

    fn fortigate(&mut self, t: u64) -> String {
        let (h, m, s) = ((t / 3600) % 24, (t / 60) % 60, t % 60);
        if self.rand().is_multiple_of(10) {
            let user = self.pick(USERS);
            let ip = self.ip_wan();
            let (logid, action, desc) = if self.rand().is_multiple_of(3) {
                ("0101039947", "tunnel-up", "SSL VPN tunnel up")
            } else {
                ("0101039426", "ssl-login-fail", "SSL VPN login fail")
            };
            return format!(
                "<189>date=2026-11-24 time={h:02}:{m:02}:{s:02} devname=\"FG100E-HOSP\" devid=\"FG100ETK19000001\" eventtime={t}{:09} tz=\"+0900\" logid=\"{logid}\" type=\"event\" subtype=\"vpn\" level=\"alert\" vd=\"root\" logdesc=\"{desc}\" action=\"{action}\" tunneltype=\"ssl-web\" tunnelid=0 remip={ip} tunnelip=(null) user=\"{user}\" group=\"vpn-users\" dst_host=\"N/A\" reason=\"sslvpn_login_permission_denied\" msg=\"SSL user failed to logged in\"",
                self.rand() % 1_000_000_000
            );
        }
        let src = self.ip_lan();
        let dst = if self.rand().is_multiple_of(2) {
            self.ip_wan()
        } else {
            self.ip_lan()
        };
        let app = self.pick(APPS);
        let action = if self.rand().is_multiple_of(8) {
            "deny"
        } else {
            "close"
        };
        let sport = 1024 + self.rand() % 60000;
        let dport = [443u64, 80, 53, 3389, 445, 389, 123, 104][(self.rand() % 8) as usize];
        format!(
            "<189>date=2026-11-24 time={h:02}:{m:02}:{s:02} devname=\"FG100E-HOSP\" devid=\"FG100ETK19000001\" eventtime={t}{:09} tz=\"+0900\" logid=\"0000000013\" type=\"traffic\" subtype=\"forward\" level=\"notice\" vd=\"root\" srcip={src} srcport={sport} srcintf=\"internal\" srcintfrole=\"lan\" dstip={dst} dstport={dport} dstintf=\"wan1\" dstintfrole=\"wan\" sessionid={} proto=6 action=\"{action}\" policyid={} policytype=\"policy\" service=\"{app}\" dstcountry=\"Japan\" srccountry=\"Reserved\" trandisp=\"snat\" duration={} sentbyte={} rcvdbyte={} sentpkt={} rcvdpkt={} appcat=\"unscanned\"",
            self.rand() % 1_000_000_000,
            self.rand() % 100_000_000,
            1 + self.rand() % 40,
            self.rand() % 600,
            self.rand() % 100_000,
            self.rand() % 1_000_000,
            self.rand() % 200,
            self.rand() % 900,
        )
    }

    fn windows(&mut self, t: u64) -> String {
        let host = self.pick(HOSTS);
        let user = self.pick(USERS);
        let (h, m, s) = ((t / 3600) % 24, (t / 60) % 60, t % 60);
        let time = format!("2026-11-24 {h:02}:{m:02}:{s:02}");
        let rec = self.n;
        match self.rand() % 4 {
            0 | 1 => {
                let eid = if self.rand().is_multiple_of(5) {
                    4625
                } else {
                    4624
                };
                let ip = self.ip_lan();
                let lt = [2u64, 3, 10][(self.rand() % 3) as usize];
                format!(
                    "<14>{{\"EventTime\":\"{time}\",\"Hostname\":\"{host}.hosp.local\",\"Keywords\":-9214364837600034816,\"EventType\":\"AUDIT_SUCCESS\",\"SeverityValue\":2,\"Severity\":\"INFO\",\"EventID\":{eid},\"SourceName\":\"Microsoft-Windows-Security-Auditing\",\"ProviderGuid\":\"{{54849625-5478-4994-A5BA-3E3B0328C30D}}\",\"Version\":2,\"Task\":12544,\"OpcodeValue\":0,\"RecordNumber\":{rec},\"ProcessID\":{},\"ThreadID\":{},\"Channel\":\"Security\",\"Message\":\"An account was logged on.\",\"SubjectUserSid\":\"S-1-5-18\",\"SubjectUserName\":\"{host}$\",\"SubjectDomainName\":\"HOSP\",\"TargetUserSid\":\"S-1-5-21-1004336348-1177238915-682003330-{}\",\"TargetUserName\":\"{user}\",\"TargetDomainName\":\"HOSP\",\"LogonType\":\"{lt}\",\"LogonProcessName\":\"NtLmSsp\",\"AuthenticationPackageName\":\"NTLM\",\"WorkstationName\":\"{}\",\"IpAddress\":\"{ip}\",\"IpPort\":\"{}\"}}",
                    600 + self.rand() % 100,
                    1000 + self.rand() % 9000,
                    1000 + self.rand() % 500,
                    self.pick(HOSTS),
                    1024 + self.rand() % 60000
                )
            }
            _ => {
                let image = self.pick(IMAGES);
                let parent = self.pick(IMAGES);
                format!(
                    "<14>{{\"EventTime\":\"{time}\",\"Hostname\":\"{host}.hosp.local\",\"EventID\":1,\"SourceName\":\"Microsoft-Windows-Sysmon\",\"Channel\":\"Microsoft-Windows-Sysmon/Operational\",\"RecordNumber\":{rec},\"Message\":\"Process Create\",\"RuleName\":\"-\",\"UtcTime\":\"{time}.{:03}\",\"ProcessGuid\":\"{{9b9f0e1a-{:04x}-6742-0000-00100f{:06x}}}\",\"ProcessId\":\"{}\",\"Image\":\"{image}\",\"FileVersion\":\"10.0.19041.1\",\"Description\":\"Windows Command Processor\",\"Company\":\"Microsoft Corporation\",\"CommandLine\":\"\\\"{image}\\\" /c echo {}\",\"CurrentDirectory\":\"C:\\\\Users\\\\{user}\\\\\",\"User\":\"HOSP\\\\{user}\",\"LogonId\":\"0x{:x}\",\"IntegrityLevel\":\"Medium\",\"Hashes\":\"SHA256={:016X}{:016X}\",\"ParentImage\":\"{parent}\",\"ParentCommandLine\":\"{parent}\"}}",
                    self.rand() % 1000,
                    self.rand() % 0xffff,
                    self.rand() % 0xffffff,
                    1000 + self.rand() % 30000,
                    self.rand() % 100000,
                    self.rand() % 0xfffff,
                    self.rand(),
                    self.rand()
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_varied() {
        let a: Vec<String> = {
            let mut g = Generator::new(Kind::Fortigate, 1);
            (0..100).map(|_| g.next_line()).collect()
        };
        let b: Vec<String> = {
            let mut g = Generator::new(Kind::Fortigate, 1);
            (0..100).map(|_| g.next_line()).collect()
        };
        assert_eq!(a, b);
        let distinct: std::collections::HashSet<_> = a.iter().collect();
        assert_eq!(distinct.len(), 100);
    }

    #[test]
    fn windows_lines_are_json_after_the_priority() {
        let mut g = Generator::new(Kind::WindowsJson, 3);
        for _ in 0..200 {
            let l = g.next_line();
            let json = l.strip_prefix("<14>").unwrap();
            assert!(json.starts_with('{') && json.ends_with('}'), "{l}");
            assert!(!json.contains('\n'));
        }
    }
}
