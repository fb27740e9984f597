//! The node table: the peers this node knows (`nd` → name), whether each is up, the `nd`
//! each peer uses for us (`_msg_info.srcnd` of its messages) and the incarnation of the peer
//! daemon it is up with. `netmgr_strtond` / `netmgr_ndtostr` are lookups here; node up (per
//! link: a link from a new incarnation is a restart) and node down are inputs.

use crate::errno::Errno;
use crate::ids::{Nd, ProcessKey, ThreadKey};

use super::process::Wait;
use super::{Kernel, Time};

/// Name of this node until [`Kernel::set_local_node_name`] says otherwise.
pub(super) const DEFAULT_LOCAL_NAME: &str = "localhost";

/// One configured peer node.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) name: String,
    pub(super) up: bool,
    /// The nd the peer uses for us (valid while up).
    pub(super) srcnd: Nd,
    /// Counts `handle_node_up`s, so that connections from an earlier link stay dead.
    pub(super) epoch: u64,
    /// The peer daemon's incarnation it is up with (valid while up).
    pub(super) incarnation: u64,
    /// One-way pulses handed to its link and not yet reported sent or lost
    /// ([`Kernel::handle_pulses_sent`]); bounded by `Config::max_unsent_pulses`.
    pub(super) unsent_pulses: u64,
}

impl Kernel {
    /// Configure peer `nd` named `name` (down until [`Kernel::handle_node_up`]).
    /// `nd == 0` or a name outside the rule ([`crate::node_name::NODE_NAME_RULE`]) →
    /// `EINVAL`; a name or nd already used otherwise (including this node's name) → `EEXIST`.
    /// Adding the same pair again is a no-op.
    pub fn add_node(&mut self, nd: Nd, name: &str) -> Result<(), Errno> {
        if nd == 0 || crate::node_name::validate_node_name(name).is_err() {
            return Err(Errno::EINVAL);
        }
        if let Some(node) = self.nodes.get(&nd) {
            return if node.name == name {
                Ok(())
            } else {
                Err(Errno::EEXIST)
            };
        }
        if name == self.local_name || self.nodes.values().any(|n| n.name == name) {
            return Err(Errno::EEXIST);
        }
        self.nodes.insert(
            nd,
            Node {
                name: name.to_owned(),
                up: false,
                srcnd: 0,
                epoch: 0,
                incarnation: 0,
                unsent_pulses: 0,
            },
        );
        Ok(())
    }

    /// Name this node answers to in node-qualified names (`"name/service"`); default
    /// `"localhost"`.
    pub fn set_local_node_name(&mut self, name: &str) {
        name.clone_into(&mut self.local_name);
    }

    /// `netmgr_strtond`: the nd of node `name` (this node's own name → 0).
    pub fn node_nd(&self, name: &str) -> Option<Nd> {
        if name == self.local_name {
            return Some(0);
        }
        self.nodes
            .iter()
            .find(|(_, n)| n.name == name)
            .map(|(nd, _)| *nd)
    }

    /// `netmgr_ndtostr`: the name of node `nd` (0 → this node's name).
    pub fn node_name(&self, nd: Nd) -> Option<&str> {
        if nd == 0 {
            return Some(&self.local_name);
        }
        self.nodes.get(&nd).map(|n| n.name.as_str())
    }

    /// The configured peers: `(nd, name, up)`, by nd.
    pub fn nodes(&self) -> impl Iterator<Item = (Nd, &str, bool)> + '_ {
        self.nodes
            .iter()
            .map(|(nd, n)| (*nd, n.name.as_str(), n.up))
    }

    /// A link to peer `nd` is up: the peer daemon, in its `incarnation` (a value each start
    /// of it picks anew), numbers this node `srcnd`. Restart policy: while the node is up,
    /// another link of the same incarnation changes nothing; a link of another incarnation
    /// means the node restarted, so it goes down first (as [`Kernel::handle_node_down`]:
    /// everything the old one held is gone) and comes up again. An nd never added with
    /// [`Kernel::add_node`] is ignored. Connections made before a down stay dead.
    pub fn handle_node_up(&mut self, now: Time, nd: Nd, srcnd: Nd, incarnation: u64) {
        self.clock = self.clock.max(now);
        let restarted = match self.nodes.get(&nd) {
            None => return self.handle_timeout(now),
            Some(node) if node.up && node.incarnation == incarnation => {
                return self.handle_timeout(now);
            }
            Some(node) => node.up,
        };
        if restarted {
            self.handle_node_down(now, nd);
        }
        if let Some(node) = self.nodes.get_mut(&nd) {
            node.epoch += 1;
            node.up = true;
            node.srcnd = srcnd;
            node.incarnation = incarnation;
        }
        self.handle_timeout(now);
    }

    /// Peer `nd` is gone. Client side: every local thread blocked in a call forwarded there
    /// fails `ESRCH`, every connection there dies (later `EBADF`; `_PULSE_CODE_COIDDEATH` where
    /// the owner has a `COID_DISCONNECT` channel), events registered there are forgotten.
    /// Server side: every process of that node exits, as in [`Kernel::handle_process_exit`].
    pub fn handle_node_down(&mut self, now: Time, nd: Nd) {
        self.clock = self.clock.max(now);
        if nd == 0 {
            return;
        }
        if let Some(node) = self.nodes.get_mut(&nd) {
            node.up = false;
            // Its links' queues are lost with them; a late report of them changes nothing.
            node.unsent_pulses = 0;
        }
        let threads: Vec<ThreadKey> = self
            .blocked
            .iter()
            .filter(|(_, b)| matches!(b.wait, Wait::Forward { nd: n, .. } if n == nd))
            .map(|(t, _)| *t)
            .collect();
        for thread in threads {
            self.settle_blocked_forward(thread, None, Err(Errno::ESRCH));
        }
        self.forget_node_served(nd);
        self.kill_remote_connections(|c| c.nd == nd);
        self.remote_events.retain(|_, e| e.nd != nd);
        let processes: Vec<ProcessKey> = self
            .processes
            .keys()
            .filter(|p| p.nd == nd)
            .copied()
            .collect();
        for process in processes {
            self.handle_process_exit(now, process);
        }
        self.handle_timeout(now);
    }

    /// Whether peer `nd` is configured and up, as the error a call to it would get.
    pub(super) fn node_reachable(&self, nd: Nd) -> Result<u64, Errno> {
        match self.nodes.get(&nd) {
            None => Err(Errno::EHOSTUNREACH),
            Some(n) if !n.up => Err(Errno::EHOSTDOWN),
            Some(n) => Ok(n.epoch),
        }
    }

    /// `_msg_info.srcnd` for a message from a thread of node `nd`.
    pub(super) fn srcnd_of(&self, nd: Nd) -> Nd {
        if nd == 0 {
            return 0;
        }
        self.nodes.get(&nd).map_or(0, |n| n.srcnd)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Kernel};
    use crate::errno::Errno;

    /// The node table takes only names within the rule (`crate::node_name`): a `/` would
    /// break `node/name` lookups, and `all` means every node to qnet's commands.
    #[test]
    fn node_names_outside_the_rule_are_refused() {
        let mut k = Kernel::new(Config::default());
        for bad in ["", "a/b", "all", "a b"] {
            assert_eq!(k.add_node(1, bad), Err(Errno::EINVAL), "{bad:?}");
        }
        assert_eq!(k.add_node(1, "n2.example"), Ok(()));
        assert_eq!(k.node_nd("n2.example"), Some(1));
    }
}
