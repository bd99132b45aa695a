#!/usr/bin/env python3
"""Independent check of docs/fleet-envelope.md's test vectors, outside the C# code: Python's `cryptography` (OpenSSL)
opens the documented envelope with the node key derived from node-seed, and the SSHSIG inside is verified here and
handed to `ssh-keygen -Y verify`. Run: python3 scripts/check-fleet-vectors.py (needs python3-cryptography, ssh-keygen)."""
import base64, hashlib, os, re, struct, subprocess, sys, tempfile
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

doc = open(os.path.join(os.path.dirname(__file__), "..", "docs", "fleet-envelope.md")).read()
block = doc[doc.index("## Test vectors"):].split("```")[1]
v, last = {}, None
for line in block.splitlines():
    m = re.match(r"^([a-z0-9-]+): (.+)$", line)
    if m:
        last = m.group(1); v[last] = m.group(2).strip()
    elif last and re.match(r"^\s+[0-9a-f]+\s*$", line):
        v[last] += line.strip()

def string(b, o):
    n = struct.unpack(">I", b[o:o + 4])[0]
    return b[o + 4:o + 4 + n], o + 4 + n

raw = lambda k: k.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
seed = bytes.fromhex(v["node-seed"])
p = 2**255 - 19
y = int.from_bytes(raw(Ed25519PrivateKey.from_private_bytes(seed).public_key()), "little") & ((1 << 255) - 1)
u = ((1 + y) * pow(1 - y, p - 2, p) % p).to_bytes(32, "little")
scalar = bytearray(hashlib.sha512(seed).digest()[:32]); scalar[0] &= 248; scalar[31] &= 127; scalar[31] |= 64
node = X25519PrivateKey.from_private_bytes(bytes(scalar))
assert raw(node.public_key()) == u == bytes.fromhex(v["node-x25519-public"]), "Ed25519 -> X25519 conversion"

env = bytes.fromhex(v["envelope"])
version, o = string(env, 0); assert version == b"bastion-fleet-envelope@v1"
count = struct.unpack(">I", env[o:o + 4])[0]; o += 4; assert count == 1
eph, o = string(env, o); wrapped, o = string(env, o); header = env[:o]
sealed, o = string(env, o); assert o == len(env)
wrap = HKDF(hashes.SHA256(), 32, eph + u, b"bastion-fleet@v1 wrap").derive(node.exchange(X25519PublicKey.from_public_bytes(eph)))
file_key = ChaCha20Poly1305(wrap).decrypt(bytes(12), wrapped, None)
assert file_key == bytes.fromhex(v["file-key"])
payload_key = HKDF(hashes.SHA256(), 32, None, b"bastion-fleet@v1 payload").derive(file_key)
plain = ChaCha20Poly1305(payload_key).decrypt(bytes(12), sealed, header)
payload, o = string(plain, 0); sig, o = string(plain, o)
assert payload.hex() == v["payload"] and sig.hex() == v["sshsig"], "plaintext = payload || sshsig"

with tempfile.TemporaryDirectory() as d:
    open(f"{d}/payload", "wb").write(payload)
    b64 = base64.b64encode(sig).decode()
    open(f"{d}/payload.sig", "w").write("-----BEGIN SSH SIGNATURE-----\n" + "\n".join(b64[i:i + 70] for i in range(0, len(b64), 70)) + "\n-----END SSH SIGNATURE-----\n")
    open(f"{d}/allowed_signers", "w").write("admin " + v["admin-public"] + "\n")
    r = subprocess.run(["ssh-keygen", "-Y", "verify", "-f", f"{d}/allowed_signers", "-I", "admin", "-n", "bastion-fleet@v1", "-s", f"{d}/payload.sig"],
                       stdin=open(f"{d}/payload", "rb"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
print("fleet vectors: OK (envelope opened with cryptography/OpenSSL; " + r.stdout.strip() + ")")
