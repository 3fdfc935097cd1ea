/** The primitives every proof check rests on; see primitives.ts. */
export interface Primitives {
  /** A name for reports. */
  name: string
  /** blake2b with a 32-byte digest of the concatenation of `parts` (no key). */
  blake2b256 (parts: Uint8Array[]): Buffer
  /** SHA-256 of the concatenation of `parts`: only for the key IDs of signed notes (witnessed checkpoints). */
  sha256 (parts: Uint8Array[]): Buffer
  /** Whether `signature` (64 bytes) is a valid ed25519 signature of `message` by `publicKey` (32 bytes); never throws. */
  ed25519Verify (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
}
