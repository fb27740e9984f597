//! `qnet-transport`: QUIC between qnet daemons.
