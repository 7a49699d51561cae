//! A server's `exec` entries: commands the lab runs in the server's namespace in place of
//! built-in services.

use std::collections::BTreeSet;
use std::time::Duration;


use super::{Resolver, suggest};
use crate::topology::error::Problem;
use crate::topology::model::{ExecService, Readiness, ReadyCheck, Role};
use crate::topology::raw::{RawExec, RawReady, Spanned};

/// Time a port check may take unless `ready.timeout` sets another.
pub(super) const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Readiness waits an exec service may ask for: a service that takes longer than ten
/// minutes to open its port is not one a lab can wait for.
const READY_RANGE: std::ops::RangeInclusive<Duration> = Duration::from_millis(1)..=Duration::from_secs(600);

impl Resolver {
    /// Resolves every exec entry of a server with `roles`. `path` is the server's YAML path.
    pub(super) fn exec_services(&mut self, raw: &[Spanned<RawExec>], roles: &BTreeSet<Role>, path: &str) -> Vec<ExecService> {
        let mut replaced: Vec<(Role, String)> = Vec::new();
        let mut services = Vec::new();

        for (index, entry) in raw.iter().enumerate() {
            let path = format!("{path}.exec[{index}]");
            let command = self.exec_command(&entry.value.command, &path);
            let replaces = self.replaced_roles(&entry.value.replaces, roles, &path, &mut replaced);
            let ready = self.readiness(entry, &path);

            if let (Some(command), Some(replaces), Some(ready)) = (command, replaces, ready) {
                services.push(ExecService { command, replaces, ready });
            }
        }
        services
    }

    fn exec_command(&mut self, raw: &Spanned<Vec<String>>, path: &str) -> Option<Vec<String>> {
        let path = format!("{path}.command");
        match raw.value.first() {
            Some(program) if !program.trim().is_empty() => Some(raw.value.clone()),
            _ => {
                let problem = Problem::on(raw, path, "the command has no program");
                self.report(problem.help("write the program and its arguments as a list, such as [dnsmasq, --no-daemon]"));
                None
            }
        }
    }

    /// Resolves `replaces`. `taken` records each role already replaced in this server,
    /// with the path of the entry that replaces it.
    fn replaced_roles(&mut self, raw: &Spanned<Vec<Spanned<String>>>, roles: &BTreeSet<Role>, path: &str, taken: &mut Vec<(Role, String)>) -> Option<BTreeSet<Role>> {
        let path = format!("{path}.replaces");
        if raw.value.is_empty() {
            self.report(Problem::on(raw, &path, "replaces lists no role").help("name the roles whose built-in services the command takes over, such as [dns, dhcp-server]"));
            return None;
        }

        let mut replaces = BTreeSet::new();
        let mut valid = true;
        for (index, name) in raw.value.iter().enumerate() {
            let entry_path = format!("{path}[{index}]");
            match self.replaced_role(name, roles, &entry_path, taken) {
                Some(role) => {
                    replaces.insert(role);
                    taken.push((role, entry_path));
                }
                None => valid = false,
            }
        }
        valid.then_some(replaces)
    }

    fn replaced_role(&mut self, name: &Spanned<String>, roles: &BTreeSet<Role>, path: &str, taken: &[(Role, String)]) -> Option<Role> {
        let Some(&(_, role)) = Role::NAMES.iter().find(|(known, _)| *known == name.value) else {
            let names: Vec<&str> = Role::NAMES.iter().map(|(known, _)| *known).collect();
            self.report(Problem::on(name, path, format!("unknown role {:?}", name.value)).help(suggest(&name.value, &names)));
            return None;
        };

        let problem = if role == Role::DomainController {
            Some(Problem::on(name, path, "domain-controller runs no built-in service, so there is nothing to replace").help("leave it out of replaces"))
        } else if !roles.contains(&role) {
            Some(Problem::on(name, path, format!("the server does not have the {} role", name.value)).help(format!("add {} to the server's roles, or leave it out of replaces", name.value)))
        } else if let Some((_, other)) = taken.iter().find(|(replaced, _)| *replaced == role) {
            Some(Problem::on(name, path, format!("the {} role is already replaced by {other}", name.value)).help("let one command replace each role"))
        } else {
            None
        };

        match problem {
            Some(problem) => {
                self.report(problem);
                None
            }
            None => Some(role),
        }
    }

    fn readiness(&mut self, entry: &Spanned<RawExec>, path: &str) -> Option<Readiness> {
        let path = format!("{path}.ready");
        let Some(raw) = &entry.value.ready else {
            let problem = Problem::on(entry, &path, "missing ready: the lab cannot tell when the command is ready for clients");
            self.report(problem.help("add ready: { udp: 67 } for a DHCP server or relay, ready: { tcp: 53 } for DNS, or ready: { after: 1s }"));
            return None;
        };

        let check = self.ready_check(raw, &path)?;
        if let (ReadyCheck::After(_), Some(timeout)) = (check, &raw.value.timeout) {
            self.report(Problem::on(timeout, format!("{path}.timeout"), "timeout applies only to udp and tcp checks").help("leave it out, or wait for a port instead of after"));
            return None;
        }

        let timeout = self.duration(raw.value.timeout.as_ref(), &format!("{path}.timeout"), DEFAULT_READY_TIMEOUT, READY_RANGE);
        Some(Readiness { check, timeout })
    }

    fn ready_check(&mut self, raw: &Spanned<RawReady>, path: &str) -> Option<ReadyCheck> {
        let ready = &raw.value;
        let count = [ready.udp.is_some(), ready.tcp.is_some(), ready.after.is_some()].into_iter().filter(|set| *set).count();
        if count != 1 {
            self.report(Problem::on(raw, path, format!("ready sets {count} of udp, tcp and after; it needs exactly one")).help("write ready: { udp: PORT }, ready: { tcp: PORT } or ready: { after: DURATION }"));
            return None;
        }

        // The schema limits both ports to 1..=65535.
        if let Some(port) = &ready.udp {
            return Some(ReadyCheck::Udp(port.value));
        }
        if let Some(port) = &ready.tcp {
            return Some(ReadyCheck::Tcp(port.value));
        }
        let after = ready.after.as_ref().expect("one check is set");
        let before = self.problems.len();
        let wait = self.duration(Some(after), &format!("{path}.after"), Duration::ZERO, READY_RANGE);
        (self.problems.len() == before).then_some(ReadyCheck::After(wait))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::topology::{LoadError, Problem, ReadyCheck, Role, parse};

    const SINGLE: &str = include_str!("../../../topologies/single.yaml");
    const DC1_ROLES: &str = "    roles: [domain-controller, dns, dhcp-server]\n";

    /// Returns the single-domain lab's text with `exec`, indented as a key of dc1, added to dc1.
    fn single_with_exec(exec: &str) -> String {
        assert!(SINGLE.contains(DC1_ROLES), "dc1's roles line not found in single.yaml");
        SINGLE.replacen(DC1_ROLES, &format!("{DC1_ROLES}{exec}"), 1)
    }

    fn problems(text: &str) -> Vec<Problem> {
        match parse(Path::new("test.yaml"), text.as_bytes()) {
            Err(LoadError::Invalid { problems, .. }) => problems,
            other => panic!("expected problems, got {other:?}"),
        }
    }

    fn paths(problems: &[Problem]) -> Vec<&str> {
        problems.iter().map(|problem| problem.path.as_str()).collect()
    }

    #[test]
    fn exec_replaces_roles_with_port_check() {
        let text = single_with_exec("    exec:\n      - command: [dnsmasq, --no-daemon]\n        replaces: [dns, dhcp-server]\n        ready: { udp: 67, timeout: 5s }\n");

        let lab = parse(Path::new("test.yaml"), text.as_bytes()).unwrap();

        let dc1 = lab.server("dc1").unwrap();
        assert_eq!(dc1.exec.len(), 1);
        assert_eq!(dc1.exec[0].command, ["dnsmasq", "--no-daemon"]);
        assert_eq!(dc1.exec[0].ready.check, ReadyCheck::Udp(67));
        assert_eq!(dc1.exec[0].ready.timeout.as_secs(), 5);
        assert!(!dc1.runs_builtin(Role::Dns));
        assert!(!dc1.runs_builtin(Role::DhcpServer));
        assert!(lab.server("scs").unwrap().runs_builtin(Role::SetupServer));
    }

    #[test]
    fn exec_ready_defaults_and_after() {
        let text = single_with_exec("    exec:\n      - command: [named, -f]\n        replaces: [dns]\n        ready: { tcp: 53 }\n      - command: [udhcpd, -f]\n        replaces: [dhcp-server]\n        ready: { after: 500ms }\n");

        let lab = parse(Path::new("test.yaml"), text.as_bytes()).unwrap();

        let exec = &lab.server("dc1").unwrap().exec;
        assert_eq!(exec[0].ready.check, ReadyCheck::Tcp(53));
        assert_eq!(exec[0].ready.timeout, super::DEFAULT_READY_TIMEOUT);
        assert_eq!(exec[1].ready.check, ReadyCheck::After(std::time::Duration::from_millis(500)));
    }

    #[test]
    fn exec_empty_command_and_missing_ready() {
        let text = single_with_exec("    exec:\n      - command: []\n        replaces: [dns]\n");

        let problems = problems(&text);

        assert_eq!(paths(&problems), ["servers.dc1.exec[0].ready", "servers.dc1.exec[0].command"], "in file order");
        assert!(problems[0].message.contains("missing ready"), "{}", problems[0].message);
        assert!(problems[1].message.contains("no program"), "{}", problems[1].message);
    }

    #[test]
    fn exec_rejects_roles_it_cannot_replace() {
        let text = single_with_exec("    exec:\n      - command: [dnsmasq]\n        replaces: [domain-controller, setup-server, dsn]\n        ready: { udp: 67 }\n");

        let problems = problems(&text);

        let expected = ["servers.dc1.exec[0].replaces[0]", "servers.dc1.exec[0].replaces[1]", "servers.dc1.exec[0].replaces[2]"];
        assert_eq!(paths(&problems), expected);
        assert!(problems[0].message.contains("runs no built-in service"), "{}", problems[0].message);
        assert!(problems[1].message.contains("does not have the setup-server role"), "{}", problems[1].message);
        assert_eq!(problems[2].help.as_deref(), Some("did you mean \"dns\"?"));
    }

    #[test]
    fn exec_role_replaced_twice() {
        let text = single_with_exec("    exec:\n      - command: [dnsmasq]\n        replaces: [dns]\n        ready: { udp: 53 }\n      - command: [named]\n        replaces: [dns]\n        ready: { udp: 53 }\n");

        let problems = problems(&text);

        assert_eq!(paths(&problems), ["servers.dc1.exec[1].replaces[0]"]);
        assert!(problems[0].message.contains("already replaced by servers.dc1.exec[0].replaces[0]"), "{}", problems[0].message);
    }

    #[test]
    fn exec_ready_needs_exactly_one_valid_check() {
        let cases = [
            ("{ udp: 67, tcp: 53 }", "servers.dc1.exec[0].ready", "sets 2 of udp, tcp and after"),
            ("{ timeout: 5s }", "servers.dc1.exec[0].ready", "sets 0 of udp, tcp and after"),
            ("{ udp: 70000 }", "servers.dc1.exec[0].ready.udp", "expected a UDP port number from 1 to 65535, found 70000"),
            ("{ tcp: 0 }", "servers.dc1.exec[0].ready.tcp", "expected a TCP port number from 1 to 65535, found 0"),
            ("{ after: soon }", "servers.dc1.exec[0].ready.after", "invalid duration"),
            ("{ after: 1s, timeout: 5s }", "servers.dc1.exec[0].ready.timeout", "only to udp and tcp"),
            ("{ udp: 67, timeout: 0s }", "servers.dc1.exec[0].ready.timeout", "out of range"),
        ];

        for (ready, path, message) in cases {
            let text = single_with_exec(&format!("    exec:\n      - command: [dnsmasq]\n        replaces: [dns]\n        ready: {ready}\n"));

            let problems = problems(&text);

            assert_eq!(paths(&problems), [path], "ready: {ready}");
            assert!(problems[0].message.contains(message), "ready: {ready}: {}", problems[0].message);
        }
    }

    #[test]
    fn exec_examples_resolve() {
        for (name, text) in [("dnsmasq", include_str!("../../../topologies/examples/dnsmasq-dns-dhcp.yaml")), ("dhcrelay", include_str!("../../../topologies/examples/dhcrelay-relay.yaml"))] {
            let lab = parse(Path::new("example.yaml"), text.as_bytes()).unwrap_or_else(|error| panic!("{name}: {error}"));

            let exec: Vec<&str> = lab.servers.iter().flat_map(|server| &server.exec).map(|exec| exec.command[0].as_str()).collect();
            assert_eq!(exec, [name]);
        }
    }
}
