"""A standard XMPP client library (slixmpp) against the Portico hub.

Connects with STARTTLS (certificate verification off: the hub's certificate is
self-signed), authenticates with SCRAM-SHA-256, binds a server-generated resource,
answers the hub's XEP-0199 pings, and waits for one routed e2ee message.

Usage: slixmpp_client.py HOST PORT JID PASSWORD TIMEOUT_SECONDS
Prints BOUND <full jid>, PINGED (for every hub ping answered) and
RECEIVED <id> <from>; exits 0 once the message arrived, 1 otherwise.
"""

import asyncio
import inspect
import logging
import os
import ssl
import sys

import slixmpp
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath, StanzaPath

E2EE = "{urn:portico:e2ee:1}e2ee"


def say(line):
    print(line, flush=True)


class Probe(slixmpp.ClientXMPP):
    def __init__(self, jid, password):
        super().__init__(jid, password, sasl_mech="SCRAM-SHA-256")
        self.ssl_context.check_hostname = False
        self.ssl_context.verify_mode = ssl.CERT_NONE
        self.register_plugin("xep_0199")  # answers pings
        self.done = asyncio.get_event_loop().create_future()
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_auth", self.on_failed_auth)
        self.add_event_handler("disconnected", self.on_disconnected)
        self.register_handler(Callback("hub ping", StanzaPath("iq@type=get/ping"), self.on_ping))
        # slixmpp's own "message" event wants a <body>; Portico messages carry <e2ee> instead.
        self.register_handler(
            Callback("e2ee", MatchXPath("{jabber:client}message/" + E2EE), self.on_message)
        )

    def on_start(self, _event):
        say(f"BOUND {self.boundjid.full}")

    def on_ping(self, _iq):
        say("PINGED")

    def on_message(self, msg):
        if msg.xml.find(E2EE) is not None and not self.done.done():
            say(f"RECEIVED {msg['id']} {msg['from']}")
            self.done.set_result(True)

    def on_failed_auth(self, _event):
        say("FAILED_AUTH")
        if not self.done.done():
            self.done.set_result(False)

    def on_disconnected(self, _event):
        if not self.done.done():
            say("DISCONNECTED")
            self.done.set_result(False)


async def main():
    if os.environ.get("SLIXMPP_DEBUG"):
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(message)s")
    host, port, jid, password, timeout = sys.argv[1:6]
    probe = Probe(jid, password)
    params = inspect.signature(probe.connect).parameters
    if "address" in params:  # slixmpp before 1.9
        probe.connect(address=(host, int(port)), use_ssl=False, force_starttls=True)
    else:  # STARTTLS is the default; direct TLS and plaintext stay off
        probe.enable_direct_tls = False
        probe.enable_plaintext = False
        probe.enable_starttls = True
        probe.connect(host=host, port=int(port))
    try:
        ok = await asyncio.wait_for(probe.done, float(timeout))
    except asyncio.TimeoutError:
        say("TIMEOUT")
        ok = False
    probe.disconnect()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.get_event_loop().run_until_complete(main()))
