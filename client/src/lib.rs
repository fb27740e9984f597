//! `qnet`: QNX Neutrino-style message passing through the local `qnetd`.
