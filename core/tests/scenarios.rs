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
//! rejected                            # rejected_remote_events() of the selected kernel
//! rcvid-counter 2147483647            # the next rcvid the selected kernel tries
//! nodes                               # node table of the selected kernel
//! notice a:2 DeliverEvent client_pid=200 event=7 value=1 server_pid=100
//!                                     # a hears a notice from its nd 2 (forgeries, stale ones)
//! ```
//!
//! Outputs bound for another node are put "in flight" when drained and printed as
//! `a: 100.1 => 2 MsgSend …` (Forward), `a: 100.1 => 2 Unblock` (ForwardUnblock),
//! `a: => 2 ThreadExit …` (Notify), `b: 1/100.1 <- Reply …` (the result of a forwarded call,
//! a completion for a remote thread). `deliver` routes each as the daemon would: a Forward
//! becomes `handle_call` of thread `nd/pid.tid` on the peer (after `handle_process_start`
//! with the credentials the script gave the client's process), a ForwardUnblock
//! `handle_unblock`, a remote completion `handle_forward_result`, a notice the matching
//! `handle_*`; it prints `route a -> b: <item>` and then the peer's outputs.
//!
//! A limit a process hits for the first time prints `limit hit: 0/100 channels (max 2)` before
//! the outputs. The expected output is everything `poll_output` yields after that input, one line per
//! output (`100.1 <- Chid(1)`), or `(blocked)` for a call that produced nothing, or `ok`.
//! Run with `REWRITE=1` to regenerate the expected blocks.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use qnet_core::{
    Call, ChannelFlags, Completion, Config, Credentials, Errno, Kernel, MsgInfo, Nd, Notice,
    Output, Pid, ProcessKey, PulseCode, PulseEvent, Received, ThreadKey, Timeout, TimeoutStates,
};

/// One node of a script: its kernel, its links and the credentials its processes started with.
struct Node {
    key: String,
    kernel: Kernel,
    /// nd (as this node numbers the peer) → (peer key, nd the peer uses for us).
    links: BTreeMap<Nd, (String, Nd)>,
    creds: BTreeMap<Pid, Credentials>,
}

impl Node {
    fn new(key: &str, config: Config) -> Self {
        Self {
            key: key.to_owned(),
            kernel: Kernel::new(config),
            links: BTreeMap::new(),
            creds: BTreeMap::new(),
        }
    }
}

/// Something on its way between nodes.
struct InFlight {
    from: String,
    nd: Nd,
    item: Output,
    text: String,
}

struct Runner {
    nodes: Vec<Node>,
    current: usize,
    /// Whether the script uses `kernel node=…` (prefixes on output lines).
    multi: bool,
    wire: VecDeque<InFlight>,
    now: Duration,
}

impl Runner {
    fn new(config: Config) -> Self {
        Self {
            nodes: vec![Node::new("", config)],
            current: 0,
            multi: false,
            wire: VecDeque::new(),
            now: Duration::ZERO,
        }
    }

    fn node_index(&self, key: &str) -> Result<usize, String> {
        self.nodes
            .iter()
            .position(|n| n.key == key)
            .ok_or_else(|| format!("no node {key}"))
    }

    fn cur(&mut self) -> &mut Node {
        &mut self.nodes[self.current]
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
        match directive.as_str() {
            "kernel" => {
                let args = Args::parse(rest)?;
                let mut config = Config::default();
                if let Some(v) = args.get("max_message_size") {
                    config.max_message_size = num(v)?;
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
                match args.get("node") {
                    None => {
                        *self = Runner::new(config);
                        if let Some(v) = args.get("next_rcvid") {
                            self.cur().kernel.set_next_rcvid(num(v)?);
                        }
                    }
                    Some(key) => {
                        if !self.multi {
                            self.nodes.clear();
                            self.multi = true;
                        }
                        let mut node = Node::new(key, config);
                        if let Some(name) = args.get("name") {
                            node.kernel.set_local_node_name(name);
                        }
                        if let Some(base) = args.get("id_base") {
                            node.kernel.set_id_base(num(base)?);
                        }
                        match self.node_index(key) {
                            Ok(i) => {
                                self.nodes[i] = node;
                                self.current = i;
                            }
                            Err(_) => {
                                self.nodes.push(node);
                                self.current = self.nodes.len() - 1;
                            }
                        }
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
                let pid: Pid = num(pid)?;
                let node = self.cur();
                node.creds.insert(pid, cred);
                node.kernel
                    .handle_process_start(ProcessKey::local(pid), cred);
            }
            "call" => {
                let (thread, rest) = rest.split_first().ok_or("call needs a thread")?;
                let (name, args) = rest.split_first().ok_or("call needs a call name")?;
                let thread = parse_thread(thread)?;
                let call = parse_call(name, &Args::parse(args)?)?;
                let now = self.now;
                self.cur().kernel.handle_call(now, thread, call);
                default = "(blocked)";
            }
            "advance" => {
                let d = rest.first().ok_or("advance needs a duration")?;
                self.now += parse_duration(d)?;
                for node in &mut self.nodes {
                    node.kernel.handle_timeout(self.now);
                }
            }
            "exit" => {
                let now = self.now;
                match rest {
                    [kind, who] if kind == "thread" => {
                        let thread = parse_thread(who)?;
                        self.cur().kernel.handle_thread_exit(now, thread)
                    }
                    [kind, pid] if kind == "process" => {
                        let process = ProcessKey::local(num(pid)?);
                        self.cur().kernel.handle_process_exit(now, process)
                    }
                    _ => return Err("exit thread P.T | exit process P".into()),
                }
            }
            "next-timeout" => {
                return Ok(match self.cur().kernel.poll_timeout() {
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
                let (name_a, name_b) = (self.node_name(ia), self.node_name(ib));
                let now = self.now;
                let (key_a, key_b) = (self.nodes[ia].key.clone(), self.nodes[ib].key.clone());
                let na = &mut self.nodes[ia];
                na.kernel
                    .add_node(nda, &name_b)
                    .map_err(|e| e.to_string())?;
                na.links.insert(nda, (key_b, ndb));
                let nb = &mut self.nodes[ib];
                nb.kernel
                    .add_node(ndb, &name_a)
                    .map_err(|e| e.to_string())?;
                nb.links.insert(ndb, (key_a, nda));
                self.nodes[ia].kernel.handle_node_up(now, nda, ndb);
                self.nodes[ib].kernel.handle_node_up(now, ndb, nda);
            }
            "down" | "up" => {
                let (i, nd) = self.side(rest.first().ok_or("down/up KEY:ND")?)?;
                let now = self.now;
                let node = &mut self.nodes[i];
                if directive == "down" {
                    node.kernel.handle_node_down(now, nd);
                } else {
                    let srcnd = node.links.get(&nd).map(|l| l.1).ok_or("no such link")?;
                    node.kernel.handle_node_up(now, nd, srcnd);
                }
            }
            "deliver" => {
                let limit: usize = match rest.first() {
                    Some(n) => num(n)?,
                    None => 1000,
                };
                let mut n = 0;
                while n < limit {
                    let Some(item) = self.wire.pop_front() else {
                        break;
                    };
                    self.route(item, &mut out)?;
                    n += 1;
                }
                default = "(nothing in flight)";
            }
            "drop" => {
                let n = self.wire.len();
                self.wire.clear();
                return Ok(format!("dropped {n}"));
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
                    },
                    "ProcessExit" => Notice::ProcessExit { pid: a.num("pid")? },
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
                self.apply_notice(i, nd, notice);
            }
            "rejected" => return Ok(self.cur().kernel.rejected_remote_events().to_string()),
            "rcvid-counter" => {
                let n = rest.first().ok_or("rcvid-counter N")?;
                self.cur().kernel.set_next_rcvid(num(n)?);
            }
            "nodes" => {
                let k = &self.cur().kernel;
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
        for i in 0..self.nodes.len() {
            self.drain(i, &mut out);
        }
        if out.is_empty() {
            out.push_str(default);
        }
        Ok(out.trim_end().to_owned())
    }

    /// The node name a kernel answers to.
    fn node_name(&self, i: usize) -> String {
        self.nodes[i].kernel.node_name(0).unwrap_or("").to_owned()
    }

    /// Print every output of node `i`, putting those bound for other nodes in flight.
    fn drain(&mut self, i: usize, out: &mut String) {
        let prefix = if self.multi {
            format!("{}: ", self.nodes[i].key)
        } else {
            String::new()
        };
        while let Some(hit) = self.nodes[i].kernel.poll_limit_hit() {
            let _ = writeln!(
                out,
                "{prefix}limit hit: {} {} (max {})",
                hit.process,
                hit.limit.name(),
                hit.max
            );
        }
        while let Some(output) = self.nodes[i].kernel.poll_output() {
            let (nd, text) = match &output {
                Output::Complete { thread, result } if thread.nd == 0 => {
                    let _ = writeln!(
                        out,
                        "{prefix}{}.{} <- {}",
                        thread.pid,
                        thread.tid,
                        fmt_result(result)
                    );
                    continue;
                }
                Output::Complete { thread, result } => (
                    thread.nd,
                    format!(
                        "{}/{}.{} <- {}",
                        thread.nd,
                        thread.pid,
                        thread.tid,
                        fmt_result(result)
                    ),
                ),
                Output::Forward { nd, thread, call } => (
                    *nd,
                    format!("{}.{} => {nd} {}", thread.pid, thread.tid, fmt_call(call)),
                ),
                Output::ForwardUnblock { nd, thread } => (
                    *nd,
                    format!("{}.{} => {nd} Unblock", thread.pid, thread.tid),
                ),
                Output::Notify { nd, notice } => (*nd, format!("=> {nd} {}", fmt_notice(notice))),
            };
            let _ = writeln!(out, "{prefix}{text}");
            self.wire.push_back(InFlight {
                from: self.nodes[i].key.clone(),
                nd,
                item: output,
                text,
            });
        }
    }

    /// Hand one in-flight item to the node it is for, as a daemon would.
    fn route(&mut self, flight: InFlight, out: &mut String) -> Result<(), String> {
        let from = self.node_index(&flight.from)?;
        let Some((to_key, back)) = self.nodes[from].links.get(&flight.nd).cloned() else {
            let _ = writeln!(
                out,
                "route {} -> ?: no link, lost: {}",
                flight.from, flight.text
            );
            return Ok(());
        };
        let to = self.node_index(&to_key)?;
        let _ = writeln!(out, "route {} -> {to_key}: {}", flight.from, flight.text);
        let now = self.now;
        let remote = |t: &ThreadKey| ThreadKey {
            nd: back,
            pid: t.pid,
            tid: t.tid,
        };
        match flight.item {
            Output::Complete { thread, result } => {
                let local = ThreadKey::local(thread.pid, thread.tid);
                self.nodes[to]
                    .kernel
                    .handle_forward_result(now, local, result);
            }
            Output::Forward { thread, call, .. } => {
                let cred = self.nodes[from]
                    .creds
                    .get(&thread.pid)
                    .copied()
                    .unwrap_or_default();
                let k = &mut self.nodes[to].kernel;
                let t = remote(&thread);
                k.handle_process_start(t.process(), cred);
                k.handle_call(now, t, call);
            }
            Output::ForwardUnblock { thread, .. } => {
                self.nodes[to].kernel.handle_unblock(now, remote(&thread));
            }
            Output::Notify { notice, .. } => self.apply_notice(to, back, notice),
        }
        self.drain(to, out);
        Ok(())
    }

    /// Node `i` hears `notice` from its peer `nd`.
    fn apply_notice(&mut self, i: usize, back: Nd, notice: Notice) {
        let now = self.now;
        let k = &mut self.nodes[i].kernel;
        match notice {
            Notice::ThreadExit { pid, tid } => {
                k.handle_thread_exit(now, ThreadKey { nd: back, pid, tid })
            }
            Notice::ProcessExit { pid } => k.handle_process_exit(now, ProcessKey { nd: back, pid }),
            Notice::ConnectionDead { pid, coid } => {
                k.handle_remote_connection_dead(now, back, pid, coid)
            }
            Notice::DeliverEvent {
                client_pid,
                event,
                value,
                server_pid,
            } => k.handle_remote_event(now, back, client_pid, event, value, server_pid),
        }
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

fn parse_thread(s: &str) -> Result<ThreadKey, String> {
    let (pid, tid) = s
        .split_once('.')
        .ok_or_else(|| format!("thread is PID.TID: {s}"))?;
    Ok(ThreadKey::local(num(pid)?, num(tid)?))
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
        Call::ConnectDetach { coid } => format!("ConnectDetach coid={coid}"),
        Call::MsgSend {
            coid,
            data,
            reply_cap,
            priority,
            timeout,
        } => {
            let mut s = format!(
                "MsgSend coid={coid} data={} reply_cap={reply_cap} prio={priority}",
                fmt_bytes(data)
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
        Notice::ThreadExit { pid, tid } => format!("ThreadExit pid={pid} tid={tid}"),
        Notice::ProcessExit { pid } => format!("ProcessExit pid={pid}"),
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
