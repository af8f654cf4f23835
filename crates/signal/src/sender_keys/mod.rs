//! Sender Keys for groups: SenderKeyDistributionMessage and SenderKeyMessage, wire-compatible with libsignal.
