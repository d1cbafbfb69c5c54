// An event's receipt, checked in the browser: the RFC 9162 inclusion proof
// (§2.1.3.2) must lead from the event's leaf to the root that the signed
// checkpoint names, and the checkpoint (a C2SP signed note) must carry an
// Ed25519 signature by the log's key. WebCrypto only: SHA-256 and Ed25519.
// The server's answer is data to check, never a verdict to show.

const enc = new TextEncoder();

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

function fromHex(s) {
  if (typeof s !== "string" || !/^([0-9a-f]{2})+$/.test(s)) throw new Error("a hash is not hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

const fromBase64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

async function sha256(...parts) {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}

const node = (left, right) => sha256(Uint8Array.of(1), left, right);

/// RFC 9162 §2.1.3.2: the root an inclusion path leads to from `leaf` at
/// `index` in a tree of `size` leaves; throws when the path cannot be one.
export async function rootFromInclusion(index, size, leaf, path) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn) throw new Error("the leaf index is outside the tree");
  let r = leaf;
  for (const p of path) {
    if (sn === 0n) throw new Error("the path is longer than the tree is deep");
    if (fn % 2n === 1n || fn === sn) {
      r = await node(p, r);
      if (fn % 2n === 0n) {
        while (fn % 2n === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await node(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new Error("the path is shorter than the tree is deep");
  return r;
}

/// A checkpoint note: its signed body, origin, size, root and signatures.
export function parseCheckpoint(note) {
  const split = note.indexOf("\n\n");
  if (split < 0) throw new Error("the checkpoint has no signature");
  const body = note.slice(0, split + 1);
  const [origin, size, root] = body.split("\n");
  if (!origin || !/^[0-9]+$/.test(size || "")) throw new Error("the checkpoint's body does not parse");
  const signatures = note
    .slice(split + 2)
    .split("\n")
    .filter((l) => l.startsWith("\u2014 "))
    .map((l) => {
      const [name, blob] = l.slice(2).split(" ");
      const raw = fromBase64(blob || "");
      return { name, keyHash: raw.slice(0, 4), signature: raw.slice(4) };
    });
  return { body, origin, size: BigInt(size), root: fromBase64(root || ""), signatures };
}

/// Checks `receipt` (the proof route's answer) for the event whose hash is
/// `eventHash` against the log's Ed25519 keys (`publicKeys`, base64; a
/// rotated log has several). Resolves to `{ verified: true, size }`, or
/// `{ verified: false, reason }`.
export async function verifyReceipt(receipt, eventHash, publicKeys) {
  if (!globalThis.crypto || !crypto.subtle) return { verified: false, reason: "this browser has no WebCrypto" };
  try {
    if (receipt.event_hash !== eventHash) return { verified: false, reason: "the receipt is for another event" };
    const note = parseCheckpoint(receipt.checkpoint);
    if (note.size !== BigInt(receipt.tree_size)) {
      return { verified: false, reason: "the checkpoint is for another tree size" };
    }
    const leaf = await sha256(Uint8Array.of(0), fromHex(receipt.event_hash));
    const path = receipt.inclusion_path.map(fromHex);
    const root = await rootFromInclusion(receipt.leaf_index, receipt.tree_size, leaf, path);
    if (hex(root) !== hex(note.root)) return { verified: false, reason: "the proof does not lead to the checkpoint's root" };
    for (const publicKey of publicKeys) {
      const raw = fromBase64(publicKey);
      // signed-note's key hash: SHA-256(name ‖ "\n" ‖ 0x01 ‖ key)[:4].
      const keyHash = (await sha256(enc.encode(`${note.origin}\n`), Uint8Array.of(1), raw)).slice(0, 4);
      const signature = note.signatures.find((s) => s.name === note.origin && hex(s.keyHash) === hex(keyHash));
      if (!signature) continue;
      let key;
      try {
        key = await crypto.subtle.importKey("raw", raw, { name: "Ed25519" }, false, ["verify"]);
      } catch (_) {
        return { verified: false, reason: "the proof holds, but this browser cannot check Ed25519 signatures" };
      }
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, key, signature.signature, enc.encode(note.body));
      if (!ok) return { verified: false, reason: "the checkpoint's signature does not verify" };
      return { verified: true, size: note.size };
    }
    return { verified: false, reason: "the checkpoint is not signed by any of the log's keys" };
  } catch (err) {
    return { verified: false, reason: err.message || String(err) };
  }
}
