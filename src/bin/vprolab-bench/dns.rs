//! DNS queries per second: the lab's DNS server against NSD and dnsmasq serving the same
//! zones, one after the other on 127.0.0.1:53 in the bench's namespace, with dnsperf
//! over UDP and over TCP.

use std::fmt::Write as _;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vprolab::dns::{self, RecordData, ZoneSpec};
use vprolab::net::NodeNet;
use vprolab::topology;

use crate::table::{Table, rate_ratio};
use crate::{Plan, say};

const SECTION: &str = "DNS";
const ADDRESS: &str = "127.0.0.1";
/// Queries dnsperf keeps outstanding, and its client sockets.
const OUTSTANDING: &str = "100";
const CLIENTS: &str = "8";

/// Measures the three servers over UDP and TCP and adds one row per transport and peer.
pub fn compare(plan: &Plan, work: &Path, table: &mut Table) -> Result<(), String> {
    if let Some(missing) = ["dnsperf", "nsd", "dnsmasq"].into_iter().find(|program| !on_path(program)) {
        table.push(SECTION, "queries per second", "skipped", format!("{missing} not found: install nsd, dnsperf and dnsmasq-base"), "-");
        return Ok(());
    }
    let lab = topology::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/single.yaml")).map_err(|error| error.to_string())?;
    let server = lab.server("dc1").ok_or("single.yaml has no dc1")?;
    let zones = vprolab::lab::zones_for(&lab, server);
    let queries = write_queries(work)?;

    say("DNS: the lab's server");
    let ours = measure_lab_dns(&zones, &queries, plan.load_seconds())?;
    say("DNS: NSD");
    let nsd = measure_peer(start_nsd(work, &zones)?, &queries, plan.load_seconds())?;
    say("DNS: dnsmasq");
    let dnsmasq = measure_peer(start_dnsmasq(&lab)?, &queries, plan.load_seconds())?;

    for (transport, index) in [("UDP", 0), ("TCP", 1)] {
        let rate = |qps: f64| format!("{qps:.0} q/s");
        table.push(SECTION, format!("{transport} queries per second vs NSD"), rate(ours[index]), format!("NSD {}", rate(nsd[index])), rate_ratio(ours[index], nsd[index]));
        table.push(SECTION, format!("{transport} queries per second vs dnsmasq"), rate(ours[index]), format!("dnsmasq {}", rate(dnsmasq[index])), rate_ratio(ours[index], dnsmasq[index]));
    }
    table.note(format!("DNS: each server in turn on {ADDRESS}:53 in the bench's namespace, serving the zones of topologies/single.yaml (jcert.info and its reverse zone); dnsperf -c {CLIENTS} -q {OUTSTANDING} for {} s per transport, querying provisionserver.jcert.info (a CNAME), scs.jcert.info and dc1.jcert.info A. NSD runs one server process per core; dnsmasq is single-threaded; the lab's server runs on a tokio runtime with one worker per core.", plan.load_seconds()));
    Ok(())
}

pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

fn write_queries(work: &Path) -> Result<std::path::PathBuf, String> {
    let path = work.join("queries.txt");
    fs::write(&path, "provisionserver.jcert.info A\nscs.jcert.info A\ndc1.jcert.info A\n").map_err(|error| error.to_string())?;
    Ok(path)
}

/// Runs the lab's DNS server in this process and measures it over UDP and TCP.
fn measure_lab_dns(zones: &[ZoneSpec], queries: &Path, seconds: u32) -> Result<[f64; 2], String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|error| error.to_string())?;
    let cancel = CancellationToken::new();
    let address = SocketAddr::from((ADDRESS.parse::<Ipv4Addr>().expect("valid address"), 53));

    let server = runtime.block_on(async {
        let net = NodeNet::current();
        let udp = net.udp_bind_per_core(address).map_err(|error| error.to_string())?;
        let tcp = net.tcp_listen(address).map_err(|error| error.to_string())?;
        let zones = dns::Zones::build(zones.to_vec()).map_err(|error| error.to_string())?;
        Ok::<_, String>(tokio::spawn(dns::serve(zones, udp, tcp, cancel.clone())))
    })?;

    let rates = [dnsperf(queries, seconds, false), dnsperf(queries, seconds, true)];
    cancel.cancel();
    let _ = runtime.block_on(server);
    Ok([rates[0].clone()?, rates[1].clone()?])
}

/// Measures a peer server already started, then stops it.
fn measure_peer(mut server: Child, queries: &Path, seconds: u32) -> Result<[f64; 2], String> {
    wait_for_port()?;
    let rates = [dnsperf(queries, seconds, false), dnsperf(queries, seconds, true)];
    let _ = server.kill();
    let _ = server.wait();
    Ok([rates[0].clone()?, rates[1].clone()?])
}

/// Waits until something accepts TCP connections on port 53, for at most 5 s.
fn wait_for_port() -> Result<(), String> {
    let address = SocketAddr::from((ADDRESS.parse::<Ipv4Addr>().expect("valid address"), 53));
    for _ in 0..100 {
        if std::net::TcpStream::connect_timeout(&address, Duration::from_millis(50)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no DNS server listening on {address} after 5 s"))
}

/// Runs dnsperf and returns its queries per second.
fn dnsperf(queries: &Path, seconds: u32, tcp: bool) -> Result<f64, String> {
    let mut command = Command::new("dnsperf");
    command.args(["-s", ADDRESS, "-p", "53", "-c", CLIENTS, "-q", OUTSTANDING, "-l", &seconds.to_string(), "-d"]).arg(queries);
    if tcp {
        command.args(["-m", "tcp"]);
    }
    let output = command.output().map_err(|error| format!("cannot run dnsperf: {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = text.lines().find_map(|line| line.trim().strip_prefix("Queries per second:")).and_then(|rate| rate.trim().parse().ok());
    rate.ok_or_else(|| format!("dnsperf printed no rate: {text}{}", String::from_utf8_lossy(&output.stderr)))
}

/// Writes the zones as zone files with an nsd.conf and starts NSD in the foreground.
fn start_nsd(work: &Path, zones: &[ZoneSpec]) -> Result<Child, String> {
    let dir = work.join("nsd");
    fs::create_dir_all(&dir).map_err(|error| error.to_string())?;
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let mut config = format!(
        "server:\n  ip-address: {ADDRESS}\n  port: 53\n  username: \"\"\n  zonesdir: \"{dir}\"\n  pidfile: \"{dir}/nsd.pid\"\n  database: \"\"\n  xfrdfile: \"{dir}/xfrd.state\"\n  zonelistfile: \"{dir}/zone.list\"\n  server-count: {cores}\n  verbosity: 0\n  rrl-ratelimit: 0\nremote-control:\n  control-enable: no\n",
        dir = dir.display()
    );
    for zone in zones {
        let file = format!("{}.zone", zone.origin.trim_end_matches('.'));
        fs::write(dir.join(&file), zone_file(zone)).map_err(|error| error.to_string())?;
        let _ = write!(config, "zone:\n  name: {}\n  zonefile: \"{file}\"\n", zone.origin);
    }
    let conf = dir.join("nsd.conf");
    fs::write(&conf, config).map_err(|error| error.to_string())?;

    Command::new("nsd").arg("-d").arg("-c").arg(&conf).stdout(Stdio::null()).spawn().map_err(|error| format!("cannot start nsd: {error}"))
}

/// Renders a zone in the master-file format of RFC 1035 section 5.
fn zone_file(zone: &ZoneSpec) -> String {
    let absolute = |name: &str| format!("{}.", name.trim_end_matches('.'));
    let mailbox = absolute(&zone.admin_mailbox.replacen('@', ".", 1));
    let mut text = format!(
        "$ORIGIN {}\n@ {} IN SOA {} {mailbox} {} {} {} {} {}\n@ {} IN NS {}\n",
        absolute(&zone.origin), zone.minimum, absolute(&zone.primary_ns), zone.serial, zone.refresh, zone.retry, zone.expire, zone.minimum, zone.minimum, absolute(&zone.primary_ns)
    );
    for record in &zone.records {
        let data = match &record.data {
            RecordData::A(address) => format!("A {address}"),
            RecordData::Cname(target) => format!("CNAME {}", absolute(target)),
            RecordData::Ptr(target) => format!("PTR {}", absolute(target)),
            RecordData::Ns(target) => format!("NS {}", absolute(target)),
        };
        let _ = writeln!(text, "{} {} IN {data}", absolute(&record.name), record.ttl);
    }
    text
}

/// Starts dnsmasq with the lab's names as local data: the CNAME and the servers' A records.
fn start_dnsmasq(lab: &topology::Lab) -> Result<Child, String> {
    let mut command = Command::new("dnsmasq");
    command.args(["--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces", "--listen-address", ADDRESS, "--port=53", "--user=root", "--pid-file", "--cache-size=10000"]);
    for zone in &lab.zones {
        command.arg(format!("--local=/{}/", zone.origin));
        for record in &zone.records {
            match &record.data {
                topology::RecordData::A(address) => command.arg(format!("--host-record={},{address}", record.name)),
                topology::RecordData::Cname(target) => command.arg(format!("--cname={},{target}", record.name)),
            };
        }
    }
    command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().map_err(|error| format!("cannot start dnsmasq: {error}"))
}
