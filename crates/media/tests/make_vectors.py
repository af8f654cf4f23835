#!/usr/bin/env python3
"""Writes tests/vectors.json from FORMAT.md alone, with pyca/cryptography's AES-GCM: an
implementation independent of the Rust crate. Run: python3 tests/make_vectors.py"""
import hashlib, json, os, struct
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

def encrypt(key, prefix, chunk_size, pt):
    header = b"PMED" + bytes([1]) + struct.pack(">I", chunk_size) + prefix
    chunks = [pt[i:i + chunk_size] for i in range(0, len(pt), chunk_size)] or [b""]
    out = bytearray(header)
    aead = AESGCM(key)
    for i, c in enumerate(chunks):
        last = 1 if i == len(chunks) - 1 else 0
        nonce = prefix + struct.pack(">I", i) + bytes([last])
        out += aead.encrypt(nonce, c, header)
    return bytes(out)

def main():
    vectors = []
    n = 0
    for chunk_size, sizes in ((1024, (0, 1, 1023, 1024, 1025, 3000)), (65536, (0, 65536, 65537))):
        for size in sizes:
            key = bytes((n * 31 + i * 7 + 1) % 256 for i in range(32))
            prefix = bytes((n * 13 + i * 5 + 2) % 256 for i in range(7))
            pt = bytes((i * 7 + n) % 251 for i in range(size))
            ct = encrypt(key, prefix, chunk_size, pt)
            vectors.append({
                "name": f"chunk {chunk_size}, {size} bytes",
                "key": key.hex(), "nonce_prefix": prefix.hex(), "chunk_size": chunk_size,
                "plaintext": pt.hex(), "ciphertext": ct.hex(),
                "plaintext_sha256": hashlib.sha256(pt).hexdigest(),
                "ciphertext_sha256": hashlib.sha256(ct).hexdigest(),
            })
            n += 1
    path = os.path.join(os.path.dirname(__file__), "vectors.json")
    with open(path, "w") as f:
        json.dump({"format": "PMED version 1 (crates/media/FORMAT.md)", "vectors": vectors}, f, indent=1)
        f.write("\n")

main()
