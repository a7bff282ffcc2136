/**
 * A test host whose crypto ops are host-sim's own key slots (node:crypto), answering through the core
 * harness after its latency, plus the fake cluster's way of issuing a CSR. Shared by the serving and the
 * client certificate suites.
 */
import { ErrorCode, HostOp, type CoreHarness, type HostCallHandler } from "./core-harness.js";
import { KeySlots, SpecError } from "../../host-sim/src/hostcrypto/keys.js";
import type { TestSigner } from "./csr-signer.js";

export const HOUR = 3_600_000;

/** A host whose crypto ops are host-sim's; every call is recorded in `calls`. */
export function cryptoHost(slots: KeySlots, calls: { op: number; arg: number; text: string }[] = []): HostCallHandler {
  return (_req, op, arg, bytes, result) => {
    const text = Buffer.from(bytes).toString("utf8");
    calls.push({ op, arg, text });
    const answer = (fn: () => string | void): number => {
      try {
        result(0, Buffer.from(fn() ?? ""));
      } catch (err) {
        result(err instanceof SpecError ? ErrorCode.HOST_CALL_INVALID : ErrorCode.HOST_CALL_FAILED, Buffer.from((err as Error).message));
      }
      return 0;
    };
    switch (op) {
      case HostOp.LISTEN: return answer(() => {});
      case HostOp.KEY_GENERATE: return answer(() => slots.generate(arg));
      case HostOp.CSR_CREATE: return answer(() => slots.csr(arg, text));
      case HostOp.CERT_INSTALL: return answer(() => slots.install(arg, text));
      case HostOp.CERT_INFO: return answer(() => slots.info(arg));
      default: return -ErrorCode.UNSUPPORTED;
    }
  };
}

/** The fake cluster's wall clock now (ms). */
export function wall(h: CoreHarness): number {
  return h.server.wallOffsetMs + h.now;
}

/** Approves and issues `csr`, valid from a minute ago for `lifeMs`; returns the certificate (PEM). */
export function issue(h: CoreHarness, signer: TestSigner, csr: any, lifeMs = HOUR): string {
  const request = Buffer.from(csr.spec.request, "base64").toString("utf8");
  const cert = signer.sign(request, wall(h) - 60_000, wall(h) - 60_000 + lifeMs);
  csr.status = { conditions: [{ type: "Approved", status: "True", reason: "Test" }], certificate: Buffer.from(cert).toString("base64") };
  return cert;
}
