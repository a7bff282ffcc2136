import { acting, transition } from "../../assembly/agent/phases";
import { Phase } from "../../assembly/abi/codes";
import { Signal } from "../../assembly/node/worker";

describe("phase table", () => {
  it("anchoring leads to bootstrapping, and a client certificate to registering", () => {
    expect(transition(Phase.Anchoring, Signal.Anchored)).toBe(Phase.Bootstrapping);
    expect(transition(Phase.Bootstrapping, Signal.Credentialed)).toBe(Phase.Registering);
    expect(transition(Phase.Registering, Signal.Registered)).toBe(Phase.Leasing);
    expect(transition(Phase.Leasing, Signal.LeaseReady)).toBe(Phase.Running);
  });
  it("a rotation's certificate changes no phase; nothing leaves bootstrapping but a certificate", () => {
    expect(transition(Phase.Running, Signal.Credentialed)).toBe(Phase.Running);
    expect(transition(Phase.Registering, Signal.Credentialed)).toBe(Phase.Registering);
    expect(transition(Phase.Bootstrapping, Signal.Registered)).toBe(Phase.Bootstrapping);
    expect(transition(Phase.Bootstrapping, Signal.NodeGone)).toBe(Phase.Bootstrapping);
  });
  it("workers act while bootstrapping, not after a stop or a hand-off", () => {
    expect(acting(Phase.Bootstrapping)).toBe(true);
    expect(acting(Phase.Anchoring)).toBe(true);
    expect(acting(Phase.Stopping)).toBe(true);
    expect(acting(Phase.Stopped)).toBe(false);
    expect(acting(Phase.HandedOff)).toBe(false);
    expect(acting(Phase.Failed)).toBe(false);
    expect(acting(Phase.Configuring)).toBe(false);
  });
});
