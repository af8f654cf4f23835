//! The reference third-party provider server: accounts, identity assertions, auth and push.
