//! Data-driven scenario scripts for the kernel semantics (`tests/scenarios/*.txt`).
//!
//! A script is a list of stanzas: one input line, `----`, then the expected output, ended by
//! a blank line. Lines starting with `#` between stanzas are comments. Inputs:
//!
//! ```text
//! kernel max_message_size=64          # fresh kernel (a script starts with a default one)
//! kernel limit_channels=2 next_rcvid=9  # limits (limit_<name> of `Limits`), rcvid counter
//! process 100 uid=1000 gid=1000       # handle_process_start
//! call 100.1 MsgSend coid=1 data="abc" reply_cap=10 priority=10 timeout=SEND|REPLY:5s
//! advance 5s                          # virtual time moves on; handle_timeout (every kernel)
//! exit thread 200.1                   # handle_thread_exit
//! exit process 200                    # handle_process_exit
//! next-timeout                        # poll_timeout
//! ```
//!
//! Several nodes, each with its own kernel (once a script says `kernel node=…`, every output
//! line is prefixed with the node it came from, `a: 100.1 <- Coid(1)`):
//!
//! ```text
//! kernel node=a name=n1 id_base=1000  # add (or replace) kernel `a`, node name n1; select it
//! node b                              # select kernel `b` for process/call/exit/next-timeout
//! link a:2 <-> b:1                    # a numbers b as nd 2, b numbers a as nd 1; both up
//! down a:2                            # a sees nd 2 go down (handle_node_down)
//! up a:2                              # a sees nd 2 come up again (handle_node_up)
//! deliver                             # route everything in flight, until nothing is left
//! deliver 1                           # route the oldest item in flight only
//! drop                                # lose everything in flight
//! drop nth=2                          # lose only the 2nd oldest item in flight
//! rejected                            # rejected_remote_events() of the selected kernel
//! rejected-pulses                     # rejected_remote_pulses() of the selected kernel
//! processes                           # the processes the selected kernel knows
//! records                             # the size of each of its tables (`Kernel::records`)
//! unsent-pulses 3                     # one-way pulses for nd 3 not yet off the wire
//! kernel node=a max_unsent_pulses=2   # Config::max_unsent_pulses
//! rcvid-counter 1073741823            # the next rcvid the selected kernel tries
//! nodes                               # node table of the selected kernel
//! notice a:2 DeliverEvent client_pid=200 event=7 value=1 server_pid=100
//!                                     # a hears a notice from its nd 2 (forgeries, stale ones)
//! deliver nth=2                       # route only the 2nd oldest item, overtaking the 1st
//! restart b id_base=3000              # b restarts: fresh kernel, new incarnation; what was in
//!                                     # flight to or from it is lost; its peers see it come up
//! stream-lost 100.1 seq=1             # the stream of the selected kernel's forwarded call
//!                                     # seq 1 died: ESRCH for that call (as its daemon does)
//! stream-stopped 1/200.1 seq=1        # the caller stopped the stream of call seq 1 of remote
//!                                     # thread 1/200.1 served by the selected kernel
//! paths                               # the selected kernel's attached paths, by id
//! priorities on                       # print poll_priority's changes (`100.1 runs at 20
//!                                     # (Received)`) before the outputs; off by default
//! ```
//!
//! Forwarded calls are numbered by their kernel from 1 (the seq, not printed): the routing
//! is `qnet_core::net`, the one the property test `random_nodes.rs` uses.
//!
//! Outputs bound for another node are put "in flight" when drained and printed as
//! `a: 100.1 => 2 MsgSend …` (Forward), `a: 100.1 => 2 Unblock` (ForwardUnblock),
//! `a: => 2 ThreadExit …` (Notify), `a: 100.1 -> 2 Pulse … (one way)` (ForwardPulse), `b: 1/100.1 <- Reply …` (the result of a forwarded call,
//! a completion for a remote thread). `deliver` routes each as the daemon would: a Forward
//! becomes `handle_remote_call` of thread `nd/pid.tid` on the peer (with the credentials the
//! script gave the client's process), a ForwardUnblock
//! `handle_remote_unblock`, a remote completion `handle_forward_result`, a notice
//! `handle_notice`; it prints `route a -> b: <item>` and then the peer's outputs.
//!
//! A limit a process hits for the first time prints `limit hit: 0/100 channels (max 2)` before
//! the outputs. The expected output is everything `poll_output` yields after that input, one line per
//! output (`100.1 <- Chid(1)`), or `(blocked)` for a call that produced nothing, or `ok`.
//! Run with `REWRITE=1` to regenerate the expected blocks.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use qnet_core::net::{Net, Packet};
use qnet_core::{
    Call, ChannelFlags, Completion, Config, Credentials, Errno, Kernel, MsgInfo, Nd, Notice,
    Output, ProcessKey, PulseCode, PulseEvent, Received, ThreadKey, Timeout, TimeoutStates,
    paths::PathFlags,
};

struct Runner {
    /// The kernels, linked (`qnet_core::net`); one for a single-node script.
    net: Net,
    /// Each node's key in the script, by index in `net`.
    keys: Vec<String>,
    current: usize,
    /// Whether the script uses `kernel node=…` (prefixes on output lines).
    multi: bool,
    /// Whether the kernel's priority changes are printed (`priorities on`); otherwise they
    /// are drained unseen, so scripts about other things do not list them.
    priorities: bool,
}

impl Runner {
    fn new(config: Config) -> Self {
        let mut net = Net::new();
        net.add(Kernel::new(config));
        Self {
            net,
            keys: vec![String::new()],
            current: 0,
            multi: false,
            priorities: false,
        }
    }

    fn node_index(&self, key: &str) -> Result<usize, String> {
        self.keys
            .iter()
            .position(|k| k == key)
            .ok_or_else(|| format!("no node {key}"))
    }

    fn cur(&mut self) -> &mut Kernel {
        self.net.kernel_mut(self.current)
    }

    /// `a:2` → (index of a, 2).
    fn side(&self, s: &str) -> Result<(usize, Nd), String> {
        let (key, nd) = s.split_once(':').ok_or("node side is KEY:ND")?;
        Ok((self.node_index(key)?, num(nd)?))
    }

    fn run(&mut self, input: &str) -> Result<String, String> {
        let tokens = tokenize(input)?;
        let (directive, rest) = tokens.split_first().ok_or("empty input")?;
        let mut default = "ok";
        let mut out = String::new();
        let now = self.net.now();
        match directive.as_str() {
            "kernel" => {
                let args = Args::parse(rest)?;
                let config = parse_config(&args)?;
                match args.get("node") {
                    None => {
                        *self = Runner::new(config);
                        if let Some(v) = args.get("next_rcvid") {
                            self.cur().set_next_rcvid(num(v)?);
                        }
                    }
                    Some(key) => {
                        if !self.multi {
                            self.net = Net::new();
                            self.keys.clear();
                            self.multi = true;
                        }
                        if self.node_index(key).is_ok() {
                            return Err(format!("node {key} exists"));
                        }
                        self.current = self.net.add(named_kernel(config, &args)?);
                        self.keys.push(key.to_owned());
                    }
                }
            }
            "node" => {
                let key = rest.first().ok_or("node needs a key")?;
                self.current = self.node_index(key)?;
            }
            "process" => {
                let (pid, args) = rest.split_first().ok_or("process needs a pid")?;
                let args = Args::parse(args)?;
                let cred = Credentials {
                    uid: args.get("uid").map(num).transpose()?.unwrap_or(0),
                    gid: args.get("gid").map(num).transpose()?.unwrap_or(0),
                };
                self.net.start_process(self.current, num(pid)?, cred);
            }
            "call" => {
                let (thread, rest) = rest.split_first().ok_or("call needs a thread")?;
                let (name, args) = rest.split_first().ok_or("call needs a call name")?;
                let thread = parse_thread(thread)?;
                let call = parse_call(name, &Args::parse(args)?)?;
                self.cur().handle_call(now, thread, call);
                default = "(blocked)";
            }
            "advance" => {
                let d = rest.first().ok_or("advance needs a duration")?;
                self.net.advance(parse_duration(d)?);
            }
            "exit" => match rest {
                [kind, who] if kind == "thread" => {
                    let thread = parse_thread(who)?;
                    self.cur().handle_thread_exit(now, thread)
                }
                [kind, pid] if kind == "process" => {
                    let process = ProcessKey::local(num(pid)?);
                    self.cur().handle_process_exit(now, process)
                }
                _ => return Err("exit thread P.T | exit process P".into()),
            },
            "next-timeout" => {
                return Ok(match self.cur().poll_timeout() {
                    Some(t) => format!("at {}", fmt_duration(t)),
                    None => "none".into(),
                });
            }
            "link" => {
                let [a, arrow, b] = rest else {
                    return Err("link A:ND <-> B:ND".into());
                };
                if arrow != "<->" {
                    return Err("link A:ND <-> B:ND".into());
                }
                let ((ia, nda), (ib, ndb)) = (self.side(a)?, self.side(b)?);
                self.net.link(ia, nda, ib, ndb).map_err(|e| e.to_string())?;
            }
            "down" => {
                let (i, nd) = self.side(rest.first().ok_or("down KEY:ND")?)?;
                self.net.down(i, nd);
            }
            "up" => {
                let (i, nd) = self.side(rest.first().ok_or("up KEY:ND")?)?;
                if !self.net.up(i, nd) {
                    return Err("no such link".into());
                }
            }
            "restart" => {
                let (key, args) = rest.split_first().ok_or("restart KEY [id_base=N]")?;
                let i = self.node_index(key)?;
                let args = Args::parse(args)?;
                let mut kernel = Kernel::new(self.net.kernel(i).config().clone());
                if let Some(base) = args.get("id_base") {
                    kernel.set_id_base(num(base)?);
                }
                let lost = self.net.restart(i, kernel);
                if lost > 0 {
                    let _ = writeln!(out, "lost {lost} in flight");
                }
            }
            "deliver" => {
                // `deliver`: everything; `deliver N`: the N oldest; `deliver nth=N`: only the
                // Nth oldest (1 is the oldest), overtaking those before it.
                let (first, limit) = match rest.first() {
                    None => (0, 1000),
                    Some(t) => match t.strip_prefix("nth=") {
                        Some(nth) => (num::<usize>(nth)?.checked_sub(1).ok_or("nth is 1..")?, 1),
                        None => (0, num(t)?),
                    },
                };
                let mut n = 0;
                while n < limit {
                    let Some(packet) = self.net.take(first) else {
                        break;
                    };
                    self.route(packet, &mut out);
                    n += 1;
                }
                default = "(nothing in flight)";
            }
            "drop" => match rest.first().map(|t| t.strip_prefix("nth=")) {
                None => return Ok(format!("dropped {}", self.net.clear_wire())),
                Some(Some(nth)) => {
                    let n = num::<usize>(nth)?.checked_sub(1).ok_or("nth is 1..")?;
                    let packet = self.net.take(n).ok_or("nothing there in flight")?;
                    let from = &self.keys[packet.from];
                    return Ok(format!("dropped {from}: {}", fmt_output(&packet.item)));
                }
                Some(None) => return Err("drop [nth=N]".into()),
            },
            "stream-lost" => {
                // The stream of a forwarded call ended without an answer: the calling daemon
                // hands the kernel ESRCH for that call's seq.
                let [thread, args @ ..] = rest else {
                    return Err("stream-lost P.T seq=N".into());
                };
                let thread = parse_thread(thread)?;
                let seq = Args::parse(args)?.num("seq")?;
                self.cur()
                    .handle_forward_result(now, thread, seq, Err(Errno::ESRCH));
            }
            "stream-stopped" => {
                // The caller stopped the stream of a call served here before its answer.
                let [thread, args @ ..] = rest else {
                    return Err("stream-stopped ND/P.T seq=N".into());
                };
                let thread = parse_thread(thread)?;
                let seq = Args::parse(args)?.num("seq")?;
                self.cur().handle_remote_call_abandoned(now, thread, seq);
            }
            "notice" => {
                let [side, kind, args @ ..] = rest else {
                    return Err("notice KEY:ND Kind key=value...".into());
                };
                let (i, nd) = self.side(side)?;
                let a = Args::parse(args)?;
                let notice = match kind.as_str() {
                    "ThreadExit" => Notice::ThreadExit {
                        pid: a.num("pid")?,
                        tid: a.num("tid")?,
                        seq: a.get("seq").map(num).transpose()?.unwrap_or(0),
                    },
                    "ProcessExit" => Notice::ProcessExit {
                        pid: a.num("pid")?,
                        next_seq: a.get("next_seq").map(num).transpose()?.unwrap_or(0),
                    },
                    "ConnectionDead" => Notice::ConnectionDead {
                        pid: a.num("pid")?,
                        coid: a.num("coid")?,
                    },
                    "DeliverEvent" => Notice::DeliverEvent {
                        client_pid: a.num("client_pid")?,
                        event: a.num("event")?,
                        value: a.get("value").map(num).transpose()?,
                        server_pid: a.num("server_pid")?,
                    },
                    other => return Err(format!("unknown notice {other}")),
                };
                self.net.kernel_mut(i).handle_notice(now, nd, notice);
            }
            "rejected" => return Ok(self.cur().rejected_remote_events().to_string()),
            "rejected-pulses" => return Ok(self.cur().rejected_remote_pulses().to_string()),
            "processes" => {
                let snap = self.cur().snapshot();
                let keys: Vec<String> = snap
                    .processes
                    .iter()
                    .map(|p| p.process.to_string())
                    .collect();
                return Ok(keys.join(" "));
            }
            "paths" => {
                let lines: Vec<String> = self
                    .cur()
                    .paths()
                    .iter()
                    .map(|p| {
                        format!(
                            "{} {:?} {}.chid{} {:?} ftype={}",
                            p.id, p.path, p.owner, p.chid, p.flags, p.file_type
                        )
                    })
                    .collect();
                return Ok(if lines.is_empty() {
                    "(none)".into()
                } else {
                    lines.join("\n")
                });
            }
            "records" => return Ok(self.cur().records().to_string()),
            "unsent-pulses" => {
                let nd = rest.first().ok_or("unsent-pulses ND")?;
                return Ok(self.cur().unsent_pulses(num(nd)?).to_string());
            }
            "priorities" => match rest {
                [on] if on == "on" => self.priorities = true,
                [off] if off == "off" => self.priorities = false,
                _ => return Err("priorities on|off".into()),
            },
            "rcvid-counter" => {
                let n = rest.first().ok_or("rcvid-counter N")?;
                self.cur().set_next_rcvid(num(n)?);
            }
            "nodes" => {
                let k = self.cur();
                let mut s = format!("0 {}", k.node_name(0).unwrap_or("?"));
                for (nd, name, up) in k.nodes() {
                    let back = k.node_nd(name).map(|n| n == nd).unwrap_or(false);
                    let _ = write!(
                        s,
                        "\n{nd} {name} {}{}",
                        if up { "up" } else { "down" },
                        if back { "" } else { " (strtond mismatch)" }
                    );
                }
                return Ok(s);
            }
            other => return Err(format!("unknown directive {other}")),
        }
        for i in 0..self.net.len() {
            self.drain(i, &mut out);
        }
        if out.is_empty() {
            out.push_str(default);
        }
        Ok(out.trim_end().to_owned())
    }

    /// Print every output of node `i`; those bound for other nodes go on the wire.
    fn drain(&mut self, i: usize, out: &mut String) {
        let prefix = if self.multi {
            format!("{}: ", self.keys[i])
        } else {
            String::new()
        };
        while let Some(hit) = self.net.kernel_mut(i).poll_limit_hit() {
            let _ = writeln!(
                out,
                "{prefix}limit hit: {} {} (max {})",
                hit.process,
                hit.limit.name(),
                hit.max
            );
        }
        while let Some(change) = self.net.kernel_mut(i).poll_priority() {
            if self.priorities {
                let t = change.thread;
                let policy = match change.realtime {
                    Some(true) => " real-time",
                    Some(false) => " own policy",
                    None => "",
                };
                let _ = writeln!(
                    out,
                    "{prefix}{}.{} runs at {}{policy} ({:?})",
                    t.pid, t.tid, change.priority, change.cause
                );
            }
        }
        self.net.drain(i, |output| {
            let _ = writeln!(out, "{prefix}{}", fmt_output(output));
        });
    }

    /// Hand one packet to the node it is for, as a daemon would, and print what that does.
    fn route(&mut self, packet: Packet, out: &mut String) {
        let from = &self.keys[packet.from];
        let text = fmt_output(&packet.item);
        let Some(to) = self.net.destination(&packet) else {
            let _ = writeln!(out, "route {from} -> ?: no link, lost: {text}");
            return;
        };
        let _ = writeln!(out, "route {from} -> {}: {text}", self.keys[to]);
        self.net.deliver(packet);
        self.drain(to, out);
    }
}

/// A kernel's config from `kernel …` arguments.
fn parse_config(args: &Args) -> Result<Config, String> {
    let mut config = Config::default();
    if let Some(v) = args.get("max_message_size") {
        config.max_message_size = num(v)?;
    }
    if let Some(v) = args.get("max_unsent_pulses") {
        config.max_unsent_pulses = num(v)?;
    }
    let l = &mut config.limits;
    for (key, field) in [
        ("limit_channels", &mut l.channels),
        ("limit_connections", &mut l.connections),
        ("limit_names", &mut l.names),
        ("limit_events", &mut l.events),
        ("limit_queued_pulses", &mut l.queued_pulses),
    ] {
        if let Some(v) = args.get(key) {
            *field = num(v)?;
        }
    }
    if let Some(v) = args.get("limit_message_bytes") {
        l.message_bytes = num(v)?;
    }
    Ok(config)
}

/// A node's kernel from `kernel node=… name=… id_base=…`.
fn named_kernel(config: Config, args: &Args) -> Result<Kernel, String> {
    let mut kernel = Kernel::new(config);
    if let Some(name) = args.get("name") {
        kernel.set_local_node_name(name);
    }
    if let Some(base) = args.get("id_base") {
        kernel.set_id_base(num(base)?);
    }
    Ok(kernel)
}

/// One output as a line (without the node prefix).
fn fmt_output(output: &Output) -> String {
    match output {
        Output::Complete { thread, result } if thread.nd == 0 => {
            format!("{}.{} <- {}", thread.pid, thread.tid, fmt_result(result))
        }
        Output::Complete { thread, result } => format!(
            "{}/{}.{} <- {}",
            thread.nd,
            thread.pid,
            thread.tid,
            fmt_result(result)
        ),
        Output::Forward {
            nd, thread, call, ..
        } => format!("{}.{} => {nd} {}", thread.pid, thread.tid, fmt_call(call)),
        Output::ForwardUnblock { nd, thread, .. } => {
            format!("{}.{} => {nd} Unblock", thread.pid, thread.tid)
        }
        Output::Notify { nd, notice } => format!("=> {nd} {}", fmt_notice(notice)),
        Output::ForwardPulse { nd, thread, pulse } => format!(
            "{}.{} -> {nd} Pulse coid={} prio={} code={} value={} (one way)",
            thread.pid, thread.tid, pulse.coid, pulse.priority, pulse.code, pulse.value
        ),
    }
}

/// Split on whitespace, keeping `"..."` (with `\"`, `\\`, `\xNN`) together; stops at `#`.
fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                cur.push('"');
            }
            '\\' if in_quotes => {
                cur.push('\\');
                cur.push(chars.next().ok_or("dangling backslash")?);
            }
            '#' if !in_quotes => break,
            c if c.is_whitespace() && !in_quotes => {
                if !cur.is_empty() {
                    tokens.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quote".into());
    }
    if !cur.is_empty() {
        tokens.push(cur);
    }
    Ok(tokens)
}

struct Args(Vec<(String, String)>);

impl Args {
    fn parse(tokens: &[String]) -> Result<Self, String> {
        let mut v = Vec::new();
        for t in tokens {
            let (k, val) = t
                .split_once('=')
                .ok_or_else(|| format!("expected key=value: {t}"))?;
            v.push((k.to_owned(), val.to_owned()));
        }
        Ok(Args(v))
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn req(&self, key: &str) -> Result<&str, String> {
        self.get(key).ok_or_else(|| format!("missing {key}="))
    }

    fn num<T: TryFrom<i128>>(&self, key: &str) -> Result<T, String> {
        num(self.req(key)?)
    }

    fn num_or<T: TryFrom<i128>>(&self, key: &str, default: T) -> Result<T, String> {
        self.get(key)
            .map(num)
            .transpose()
            .map(|v| v.unwrap_or(default))
    }

    fn bytes(&self, key: &str) -> Result<Bytes, String> {
        self.get(key)
            .map(parse_bytes)
            .transpose()
            .map(Option::unwrap_or_default)
    }
}

fn num<T: TryFrom<i128>>(s: &str) -> Result<T, String> {
    let v: i128 = match s.strip_prefix("0x") {
        Some(hex) => i128::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|e| format!("bad number {s}: {e}"))?;
    T::try_from(v).map_err(|_| format!("number out of range: {s}"))
}

/// `PID.TID` (a local thread) or `ND/PID.TID` (a remote one).
fn parse_thread(s: &str) -> Result<ThreadKey, String> {
    let (nd, local) = match s.split_once('/') {
        Some((nd, rest)) => (num(nd)?, rest),
        None => (0, s),
    };
    let (pid, tid) = local
        .split_once('.')
        .ok_or_else(|| format!("thread is [ND/]PID.TID: {s}"))?;
    Ok(ThreadKey {
        nd,
        pid: num(pid)?,
        tid: num(tid)?,
    })
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Some(ms) = s.strip_suffix("ms") {
        return Ok(Duration::from_millis(num(ms)?));
    }
    if let Some(secs) = s.strip_suffix('s') {
        return Ok(Duration::from_secs(num(secs)?));
    }
    Err(format!("duration is Ns or Nms: {s}"))
}

fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// `"text"` with `\xNN`, `\"`, `\\` escapes; or `N*c` for N copies of byte `c`.
fn parse_bytes(s: &str) -> Result<Bytes, String> {
    if let Some((n, c)) = s.split_once('*') {
        let c = c.bytes().next().ok_or("N*c needs a byte")?;
        return Ok(Bytes::from(vec![c; num(n)?]));
    }
    let inner = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("data is \"...\" or N*c: {s}"))?;
    let mut out = Vec::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).map_err(|e| e.to_string())?);
            }
            Some(c) => out.push(c as u8),
            None => return Err("dangling backslash".into()),
        }
    }
    Ok(Bytes::from(out))
}

fn fmt_bytes(b: &[u8]) -> String {
    let mut s = String::from('"');
    for &c in b {
        match c {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(c as char),
            _ => {
                let _ = write!(s, "\\x{c:02x}");
            }
        }
    }
    s.push('"');
    s
}

fn parse_flags(s: Option<&str>) -> Result<ChannelFlags, String> {
    match s {
        None => Ok(ChannelFlags::default()),
        Some(s) if s.starts_with("0x") => Ok(ChannelFlags(num(s)?)),
        Some(s) => ChannelFlags::from_names(s).ok_or_else(|| format!("bad flags {s}")),
    }
}

/// `DIR|AFTER`
fn parse_path_flags(s: Option<&str>) -> Result<PathFlags, String> {
    let mut bits = 0;
    for part in s.unwrap_or("").split('|').filter(|p| !p.is_empty()) {
        bits |= match part {
            "BEFORE" => PathFlags::BEFORE.0,
            "AFTER" => PathFlags::AFTER.0,
            "DIR" => PathFlags::DIR.0,
            "OPAQUE" => PathFlags::OPAQUE.0,
            "FTYPEONLY" => PathFlags::FTYPEONLY.0,
            other => return Err(format!("bad path flag {other}")),
        };
    }
    Ok(PathFlags(bits))
}

/// `SEND|REPLY:5s`
fn parse_timeout(s: Option<&str>) -> Result<Option<Timeout>, String> {
    let Some(s) = s else { return Ok(None) };
    let (states, after) = s.split_once(':').ok_or("timeout is STATES:duration")?;
    let mut t = TimeoutStates::default();
    for part in states.split('|') {
        match part {
            "SEND" => t.send = true,
            "REPLY" => t.reply = true,
            "RECEIVE" => t.receive = true,
            other => return Err(format!("bad timeout state {other}")),
        }
    }
    Ok(Some(Timeout {
        states: t,
        after: parse_duration(after)?,
    }))
}

fn parse_call(name: &str, a: &Args) -> Result<Call, String> {
    Ok(match name {
        "ChannelCreate" => Call::ChannelCreate {
            flags: parse_flags(a.get("flags"))?,
        },
        "ChannelDestroy" => Call::ChannelDestroy {
            chid: a.num("chid")?,
        },
        "ConnectAttach" => Call::ConnectAttach {
            nd: a.num_or("nd", 0)?,
            pid: a.num("pid")?,
            chid: a.num("chid")?,
        },
        "ConnectDetach" => Call::ConnectDetach {
            coid: a.num("coid")?,
        },
        "ScoidDetach" => Call::ScoidDetach {
            scoid: a.num("scoid")?,
        },
        "ConnectClientInfo" => Call::ConnectClientInfo {
            scoid: a.num("scoid")?,
        },
        "MsgSend" => Call::MsgSend {
            coid: a.num("coid")?,
            data: a.bytes("data")?,
            reply_cap: a.num_or("reply_cap", 0)?,
            priority: a.num_or("priority", 10)?,
            realtime: a.get("realtime") == Some("true"),
            timeout: parse_timeout(a.get("timeout"))?,
        },
        "MsgReceive" => Call::MsgReceive {
            chid: a.num("chid")?,
            cap: a.num_or("cap", 64)?,
            timeout: parse_timeout(a.get("timeout"))?,
        },
        "MsgReply" => Call::MsgReply {
            rcvid: a.num("rcvid")?,
            status: a.num_or("status", 0)?,
            data: a.bytes("data")?,
        },
        "MsgError" => Call::MsgError {
            rcvid: a.num("rcvid")?,
            errno: Errno::from_name(a.req("errno")?).ok_or("bad errno")?.0,
        },
        "MsgRead" => Call::MsgRead {
            rcvid: a.num("rcvid")?,
            offset: a.num_or("offset", 0)?,
            len: a.num("len")?,
        },
        "MsgWrite" => Call::MsgWrite {
            rcvid: a.num("rcvid")?,
            offset: a.num_or("offset", 0)?,
            data: a.bytes("data")?,
        },
        "MsgInfo" => Call::MsgInfo {
            rcvid: a.num("rcvid")?,
        },
        "MsgSendPulse" => Call::MsgSendPulse {
            coid: a.num("coid")?,
            priority: a.num_or("priority", 10)?,
            code: a.num("code")?,
            value: a.num_or("value", 0)?,
        },
        "NameAttach" => Call::NameAttach {
            name: a.req("name")?.trim_matches('"').to_owned(),
            flags: parse_flags(a.get("flags"))?,
        },
        "NameDetach" => Call::NameDetach {
            chid: a.num("chid")?,
        },
        "NameOpen" => Call::NameOpen {
            name: a.req("name")?.trim_matches('"').to_owned(),
        },
        "PathAttach" => Call::PathAttach {
            path: a.req("path")?.trim_matches('"').to_owned(),
            chid: a.num("chid")?,
            flags: parse_path_flags(a.get("flags"))?,
            file_type: a.num_or("ftype", 0)?,
        },
        "PathDetach" => Call::PathDetach { id: a.num("id")? },
        "PathResolve" => Call::PathResolve {
            path: a.req("path")?.trim_matches('"').to_owned(),
            file_type: a.num_or("ftype", 0)?,
        },
        "PathList" => Call::PathList {
            path: a.req("path")?.trim_matches('"').to_owned(),
        },
        "MsgRegisterEvent" => Call::MsgRegisterEvent {
            event: PulseEvent {
                coid: a.num("coid")?,
                priority: a.num_or("priority", 10)?,
                code: a.num("code")?,
                value: a.num_or("value", 0)?,
                updateable: a.get("updateable") == Some("true"),
            },
            server_coid: a.num("server_coid")?,
        },
        "MsgUnregisterEvent" => Call::MsgUnregisterEvent {
            event: a.num("event")?,
        },
        "MsgVerifyEvent" => Call::MsgVerifyEvent {
            rcvid: a.num_or("rcvid", 0)?,
            event: a.num("event")?,
        },
        "MsgDeliverEvent" => Call::MsgDeliverEvent {
            rcvid: a.num_or("rcvid", 0)?,
            event: a.num("event")?,
            value: a.get("value").map(num).transpose()?,
        },
        "Unblock" => Call::Unblock { tid: a.num("tid")? },
        "ConnectFlags" => Call::ConnectFlags {
            coid: a.num("coid")?,
            mask: a.num_or("mask", 0)?,
            bits: a.num_or("bits", 0)?,
        },
        "MsgDeliverPulse" => Call::MsgDeliverPulse {
            scoid: a.num("scoid")?,
            client_coid: a.num("client_coid")?,
            event: PulseEvent {
                coid: a.num("coid")?,
                priority: a.num_or("priority", 10)?,
                code: a.num("code")?,
                value: a.num_or("value", 0)?,
                updateable: false,
            },
        },
        other => return Err(format!("unknown call {other}")),
    })
}

/// A forwarded call, compactly.
fn fmt_call(c: &Call) -> String {
    match c {
        Call::ConnectAttach { nd, pid, chid } => {
            format!("ConnectAttach nd={nd} pid={pid} chid={chid}")
        }
        Call::NameOpen { name } => format!("NameOpen name={name}"),
        Call::PathResolve { path, file_type } => {
            format!("PathResolve path={path} ftype={file_type}")
        }
        Call::PathList { path } => format!("PathList path={path}"),
        Call::ConnectDetach { coid } => format!("ConnectDetach coid={coid}"),
        Call::MsgSend {
            coid,
            data,
            reply_cap,
            priority,
            realtime,
            timeout,
        } => {
            let mut s = format!(
                "MsgSend coid={coid} data={} reply_cap={reply_cap} prio={priority}{}",
                fmt_bytes(data),
                if *realtime { " realtime" } else { "" }
            );
            if let Some(t) = timeout {
                let mut states = Vec::new();
                for (on, name) in [
                    (t.states.send, "SEND"),
                    (t.states.reply, "REPLY"),
                    (t.states.receive, "RECEIVE"),
                ] {
                    if on {
                        states.push(name);
                    }
                }
                let _ = write!(s, " timeout={}:{}", states.join("|"), fmt_duration(t.after));
            }
            s
        }
        Call::MsgSendPulse {
            coid,
            priority,
            code,
            value,
        } => format!("MsgSendPulse coid={coid} prio={priority} code={code} value={value}"),
        Call::MsgRegisterEvent { event, server_coid } => format!(
            "MsgRegisterEvent coid={} code={} value={} server_coid={server_coid}",
            event.coid, event.code, event.value
        ),
        Call::MsgUnregisterEvent { event } => format!("MsgUnregisterEvent event={event}"),
        other => format!("{other:?}"),
    }
}

fn fmt_notice(n: &Notice) -> String {
    match n {
        Notice::ThreadExit { pid, tid, seq } => format!("ThreadExit pid={pid} tid={tid} seq={seq}"),
        Notice::ProcessExit { pid, next_seq } => {
            format!("ProcessExit pid={pid} next_seq={next_seq}")
        }
        Notice::ConnectionDead { pid, coid } => format!("ConnectionDead pid={pid} coid={coid}"),
        Notice::DeliverEvent {
            client_pid,
            event,
            value,
            server_pid,
        } => {
            let value = value.map_or("-".to_owned(), |v| v.to_string());
            format!(
                "DeliverEvent client_pid={client_pid} event={event} value={value} server_pid={server_pid}"
            )
        }
    }
}

fn fmt_info(i: &MsgInfo) -> String {
    let mut s = format!(
        "pid={} tid={} chid={} scoid={} coid={} prio={} msglen={}",
        i.pid, i.tid, i.chid, i.scoid, i.coid, i.priority, i.msglen
    );
    if i.nd != 0 || i.srcnd != 0 {
        let _ = write!(s, " nd={} srcnd={}", i.nd, i.srcnd);
    }
    if i.srcmsglen != 0 {
        let _ = write!(s, " srcmsglen={}", i.srcmsglen);
    }
    if i.dstmsglen != 0 {
        let _ = write!(s, " dstmsglen={}", i.dstmsglen);
    }
    if i.flags != 0 {
        let _ = write!(s, " flags={:#x}", i.flags);
    }
    s
}

fn fmt_result(r: &Result<Completion, Errno>) -> String {
    let c = match r {
        Err(e) => return format!("Err({e:?})"),
        Ok(c) => c,
    };
    match c {
        Completion::Done => "Done".into(),
        Completion::Chid(c) => format!("Chid({c})"),
        Completion::Coid(c) => format!("Coid({c})"),
        Completion::Reply { status, data } => match data.pieces() {
            // The common case (a plain MsgReply) reads as before.
            [] => format!("Reply status={status} data=\"\""),
            [p] if p.offset == 0 => format!("Reply status={status} data={}", fmt_bytes(&p.data)),
            // Otherwise every written piece at its offset; bytes between them are the
            // client's own.
            pieces => {
                let shown: Vec<String> = pieces
                    .iter()
                    .map(|p| format!("{}:{}", p.offset, fmt_bytes(&p.data)))
                    .collect();
                format!("Reply status={status} extents={}", shown.join(","))
            }
        },
        Completion::Received(Received::Message { rcvid, info, data }) => {
            format!(
                "Message rcvid={rcvid} {} data={}",
                fmt_info(info),
                fmt_bytes(data)
            )
        }
        Completion::Received(Received::Pulse(p)) => {
            let code = match p.code {
                PulseCode::UNBLOCK => "UNBLOCK".to_owned(),
                PulseCode::DISCONNECT => "DISCONNECT".to_owned(),
                PulseCode::THREADDEATH => "THREADDEATH".to_owned(),
                PulseCode::COIDDEATH => "COIDDEATH".to_owned(),
                c => format!("code={c}"),
            };
            format!(
                "Pulse {code} value={} scoid={} prio={}",
                p.value, p.scoid, p.priority
            )
        }
        Completion::Data(d) => format!("Data {}", fmt_bytes(d)),
        Completion::Count(n) => format!("Count({n})"),
        Completion::Info(i) => format!("Info {}", fmt_info(i)),
        Completion::ClientInfo(ci) => {
            format!(
                "ClientInfo nd={} pid={} uid={} gid={}",
                ci.nd, ci.pid, ci.cred.uid, ci.cred.gid
            )
        }
        Completion::Event(e) => format!("Event({e})"),
        Completion::Paths(found) => {
            let items: Vec<String> = found
                .iter()
                .map(|m| {
                    format!(
                        "{}/{}.chid{} id={} {:?}+{:?}",
                        m.nd, m.pid, m.chid, m.handle, m.prefix, m.rest
                    )
                })
                .collect();
            format!("Paths [{}]", items.join(", "))
        }
    }
}

/// Run one script; returns the rewritten text and whether everything matched.
fn run_script(text: &str) -> (String, Vec<String>) {
    let mut runner = Runner::new(Config::default());
    let mut out = String::new();
    let mut failures = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((no, line)) = lines.next() {
        if line.trim().is_empty() || line.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        out.push_str(line);
        out.push('\n');
        match lines.next() {
            Some((_, "----")) => {}
            _ => {
                failures.push(format!("line {}: expected ---- after input", no + 1));
                break;
            }
        }
        let mut expected = Vec::new();
        while let Some((_, l)) = lines.peek() {
            if l.trim().is_empty() {
                break;
            }
            expected.push(*l);
            lines.next();
        }
        let expected = expected.join("\n");
        let actual = runner.run(line).unwrap_or_else(|e| format!("error: {e}"));
        if actual != expected {
            failures.push(format!(
                "line {}: {line}\n--- expected\n{expected}\n--- actual\n{actual}\n",
                no + 1
            ));
        }
        out.push_str("----\n");
        out.push_str(&actual);
        out.push('\n');
    }
    (out, failures)
}

#[test]
fn scenarios() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("scenario dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no scenarios in {}", dir.display());
    let rewrite = std::env::var_os("REWRITE").is_some();
    let mut all = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("read scenario");
        let (rewritten, failures) = run_script(&text);
        if rewrite {
            std::fs::write(&path, rewritten).expect("rewrite scenario");
        } else {
            for f in failures {
                all.push(format!("{}: {f}", path.display()));
            }
        }
    }
    assert!(
        all.is_empty(),
        "{} scenario failures:\n{}",
        all.len(),
        all.join("\n")
    );
}
