import {
  CStatus, Cond, ConditionTracker, Signals, Verdict, evalCaffeinated, evalExistential, evalHaunted, evalPeckish,
  evalReady, evalVibes, evalMemoryPressure, heapPercentFree, memoryPressure, conditionIndex, statusOf, evaluate,
} from "../../assembly/node/conditions";
import { utf8 } from "../../assembly/util/bytes";

function sig(free: i64, uptime: i64 = 1, reconnects: i32 = 0): Signals {
  const s = new Signals();
  s.freeHeap = free;
  s.totalHeap = 102400;
  s.uptimeSeconds = uptime;
  s.reconnects = reconnects;
  return s;
}

describe("heap percentage", () => {
  it("is capped at 100 (docs/behaviour.md#heap-percentage)", () => {
    expect(heapPercentFree(3 * 102400, 102400)).toBe(100);
  });
  it("floors", () => {
    expect(heapPercentFree(30719, 102400)).toBe(29);
    expect(heapPercentFree(30720, 102400)).toBe(30);
  });
  it("treats a missing total as the original 100 KiB", () => {
    expect(heapPercentFree(51200, 0)).toBe(50);
  });
});

describe("Vibes", () => {
  it("is Cursed at 3 reconnects even with a full heap", () => {
    const v = evalVibes(sig(102400, 1, 3));
    expect(v.status).toBe(CStatus.False);
    expect(v.reason).toBe("Cursed");
    expect(evalVibes(sig(102400, 1, 2)).reason).not.toBe("Cursed");
  });
  it("is Immaculate on a fresh, stable boot", () => {
    const v = evalVibes(sig(102400, 1, 0));
    expect(v.status).toBe(CStatus.True);
    expect(v.reason).toBe("Immaculate");
  });
  it("is Off below 30%", () => {
    expect(evalVibes(sig(30719)).reason).toBe("Off");
    expect(evalVibes(sig(30720)).reason).not.toBe("Off");
  });
  it("turns Cromulent after ten minutes, Dissociating in the middle band", () => {
    expect(evalVibes(sig(102400, 600)).reason).toBe("Cromulent");
    // 71% heap but 600 s uptime: not fresh
    expect(evalVibes(sig(73000, 600)).reason).toBe("Cromulent");
    // exactly 50% is not > 50
    expect(evalVibes(sig(51200, 600)).status).toBe(CStatus.Unknown);
    expect(evalVibes(sig(51200, 600)).reason).toBe("Dissociating");
    // 70% exactly is not > 70: Cromulent even when fresh
    expect(evalVibes(sig(71680, 1)).reason).toBe("Cromulent");
    // any reconnect spoils Immaculate and Cromulent
    expect(evalVibes(sig(102400, 1, 1)).reason).toBe("Dissociating");
  });
});

describe("Caffeinated", () => {
  it("is fresh below 600 s and Decaf at 600 s (exclusive boundary)", () => {
    expect(evalCaffeinated(sig(1, 599)).reason).toBe("FreshlyBrewed");
    expect(evalCaffeinated(sig(1, 599)).status).toBe(CStatus.True);
    const v = evalCaffeinated(sig(1, 600));
    expect(v.status).toBe(CStatus.False);
    expect(v.reason).toBe("Decaf");
  });
});

describe("Existential", () => {
  it("follows the renewal count at 99/100/1000/10000", () => {
    const s = sig(1);
    s.renewals = 99;
    expect(evalExistential(s).reason).toBe("Innocent");
    expect(evalExistential(s).status).toBe(CStatus.False);
    s.renewals = 100;
    expect(evalExistential(s).reason).toBe("Questioning");
    expect(evalExistential(s).status).toBe(CStatus.True);
    s.renewals = 999;
    expect(evalExistential(s).reason).toBe("Questioning");
    s.renewals = 1000;
    expect(evalExistential(s).reason).toBe("Accepting");
    s.renewals = 9999;
    expect(evalExistential(s).reason).toBe("Accepting");
    s.renewals = 10000;
    expect(evalExistential(s).reason).toBe("Transcendent");
  });
});

describe("Peckish", () => {
  it("is Hungry just below the MemoryPressure threshold", () => {
    const v = evalPeckish(sig(20479));
    expect(v.status).toBe(CStatus.True);
    expect(v.reason).toBe("Hungry");
  });
  it("walks Sated / CouldGoForASnack / Hungry by percentage", () => {
    expect(evalPeckish(sig(62465)).reason).toBe("Sated"); // 61%
    expect(evalPeckish(sig(61440)).reason).toBe("CouldGoForASnack"); // 60%
    expect(evalPeckish(sig(41985)).reason).toBe("CouldGoForASnack"); // 41%
    expect(evalPeckish(sig(40960)).reason).toBe("Hungry"); // 40%
    expect(evalPeckish(sig(20480)).reason).toBe("Hungry");
  });
});

describe("Haunted", () => {
  it("prefers NewGhost over TimeSlipped, and is Calm otherwise", () => {
    const s = sig(1);
    s.bssidChanged = true;
    s.timeSlipped = true;
    expect(evalHaunted(s).reason).toBe("NewGhost");
    s.bssidChanged = false;
    expect(evalHaunted(s).reason).toBe("TimeSlipped");
    s.timeSlipped = false;
    expect(evalHaunted(s).reason).toBe("Calm");
    expect(evalHaunted(s).status).toBe(CStatus.False);
  });
});

describe("MemoryPressure with hysteresis", () => {
  it("turns on below the threshold and off only at threshold + hysteresis", () => {
    expect(memoryPressure(false, 20480, 20480, 4096)).toBe(false);
    expect(memoryPressure(false, 20479, 20480, 4096)).toBe(true);
    expect(memoryPressure(true, 20480, 20480, 4096)).toBe(true);
    expect(memoryPressure(true, 24575, 20480, 4096)).toBe(true);
    expect(memoryPressure(true, 24576, 20480, 4096)).toBe(false);
  });
  it("cannot flap when the heap hovers at the line", () => {
    let p = false;
    let flips = 0;
    for (let i = 0; i < 100; i++) {
      const free: i64 = i % 2 == 0 ? 20479 : 20481;
      const next = memoryPressure(p, free, 20480, 4096);
      if (next != p) flips++;
      p = next;
    }
    expect(flips).toBe(1);
  });
  it("reports reasons the kubelet uses", () => {
    const s = sig(1000);
    s.memoryPressure = true;
    expect(evalMemoryPressure(s).reason).toBe("KubeletHasInsufficientMemory");
    s.memoryPressure = false;
    expect(evalMemoryPressure(s).reason).toBe("KubeletHasSufficientMemory");
  });
});

describe("Ready", () => {
  it("is True while renewals land and the heap is fine", () => {
    expect(evalReady(sig(50000)).status).toBe(CStatus.True);
    expect(evalReady(sig(50000)).reason).toBe("KubeletReady");
  });
  it("is False once renewals fail for more than half the lease duration", () => {
    const s = sig(50000);
    s.renewFailingMs = 20000;
    expect(evalReady(s).status).toBe(CStatus.True);
    s.renewFailingMs = 20001;
    expect(evalReady(s).status).toBe(CStatus.False);
    expect(evalReady(s).reason).toBe("KubeletNotReady");
  });
  it("is False when free heap is below half the MemoryPressure threshold", () => {
    expect(evalReady(sig(10239)).status).toBe(CStatus.False);
    expect(evalReady(sig(10240)).status).toBe(CStatus.True);
  });
});

describe("transition times", () => {
  it("move only when the status flips, not on a new reason", () => {
    const t = new ConditionTracker();
    expect(t.set(Cond.Existential, new Verdict(CStatus.True, "Questioning", "a"), 1000)).toBe(true);
    expect(t.set(Cond.Existential, new Verdict(CStatus.True, "Accepting", "b"), 2000)).toBe(false);
    expect(t.items[Cond.Existential].transitionMs).toBe(1000);
    expect(t.items[Cond.Existential].reason).toBe("Accepting");
    expect(t.set(Cond.Existential, new Verdict(CStatus.False, "Innocent", "c"), 3000)).toBe(true);
    expect(t.items[Cond.Existential].transitionMs).toBe(3000);
  });
  it("starts custom conditions Unknown, so the first real value is a flip", () => {
    const t = new ConditionTracker();
    expect(t.set(Cond.Vibes, new Verdict(CStatus.True, "Immaculate", ""), 5000)).toBe(true);
    const u = new ConditionTracker();
    expect(u.set(Cond.Vibes, new Verdict(CStatus.Unknown, "Dissociating", ""), 5000)).toBe(false);
    expect(u.items[Cond.Vibes].transitionMs).toBe(5000);
  });
  it("evaluates all ten and reports exactly the flipped ones", () => {
    const t = new ConditionTracker();
    const s = sig(102400, 1);
    const first = t.evaluateAll(s, 1000);
    expect(first).toBe((1 << 10) - 1);
    expect(t.evaluateAll(s, 2000)).toBe(0);
    s.uptimeSeconds = 600;
    const mask = t.evaluateAll(s, 3000);
    expect(mask).toBe(1 << Cond.Caffeinated);
    expect(t.items[Cond.Caffeinated].transitionMs).toBe(3000);
    expect(t.items[Cond.Ready].transitionMs).toBe(1000);
    // Vibes went Immaculate -> Cromulent: same status, time unchanged
    expect(t.items[Cond.Vibes].reason).toBe("Cromulent");
    expect(t.items[Cond.Vibes].transitionMs).toBe(1000);
  });
});

describe("condition messages", () => {
  it("are those of the last evaluation, built when read, for every condition and branch", () => {
    const t = new ConditionTracker();
    const cases: Signals[] = [];
    cases.push(sig(102400, 1));
    cases.push(sig(25000, 700, 3));
    cases.push(sig(61000, 4000));
    cases.push(sig(45000, 900, 1));
    cases.push(sig(9000, 12000));
    const wifi = sig(80000, 650);
    wifi.link = 2;
    wifi.rssi = -61;
    wifi.renewFailingMs = 30000;
    wifi.memoryPressure = true;
    cases.push(wifi);
    for (let k = 0; k < cases.length; k++) {
      t.evaluateAll(cases[k], 1000 * k);
      // Read every other round only: an unread message is replaced by the next evaluation's.
      if (k % 2 == 1 || k == cases.length - 1) {
        for (let i = 0; i < 10; i++) {
          const want = evaluate(i, cases[k]);
          expect(t.items[i].message).toBe(want.message);
          expect(t.items[i].message).toBe(want.message);
          expect(t.items[i].reason).toBe(want.reason);
        }
      }
    }
    expect(t.items[Cond.NetworkUnavailable].message).toBe("Wi-Fi link is up (RSSI -61 dBm)");
    expect(t.items[Cond.Ready].message).toBe("lease renewals have been failing for 30 s");
    // A message set directly stands until the next evaluation.
    t.set(Cond.Ready, new Verdict(CStatus.True, "KubeletReady", "set by hand"), 9000);
    expect(t.items[Cond.Ready].message).toBe("set by hand");
  });
});

function ready(status: CStatus, at: i64): ConditionTracker {
  const t = new ConditionTracker();
  t.set(Cond.Ready, new Verdict(status, "KubeletReady", ""), at);
  return t;
}

describe("reconciling with the server's copy (the node watch)", () => {
  it("reads condition types and statuses", () => {
    expect(conditionIndex(utf8("Ready"))).toBe(Cond.Ready);
    expect(conditionIndex(utf8("Haunted"))).toBe(Cond.Haunted);
    expect(conditionIndex(utf8("KernelDeadlock"))).toBe(-1);
    expect(statusOf(utf8("Unknown"))).toBe(<i32>CStatus.Unknown);
    expect(statusOf(utf8("true"))).toBe(-1);
  });
  it("compares nothing before the first push landed", () => {
    const t = ready(CStatus.True, 1000);
    expect(t.reconcile(Cond.Ready, <i32>CStatus.Unknown, 5000, -1, 9000)).toBe(false);
    expect(t.items[Cond.Ready].transitionMs).toBe(1000);
  });
  it("pushes back a status someone else set, as a transition now", () => {
    const t = ready(CStatus.True, 1000);
    expect(t.reconcile(Cond.Ready, <i32>CStatus.Unknown, 5000, <i32>CStatus.True, 9000)).toBe(true);
    expect(t.items[Cond.Ready].transitionMs).toBe(9000);
  });
  it("pushes back a missing condition", () => {
    const t = ready(CStatus.True, 1000);
    expect(t.reconcile(Cond.Ready, -1, -1, <i32>CStatus.True, 9000)).toBe(true);
    expect(t.items[Cond.Ready].transitionMs).toBe(9000);
  });
  it("never stamps a time before the server's", () => {
    const t = ready(CStatus.True, 1000);
    expect(t.reconcile(Cond.Ready, <i32>CStatus.Unknown, 20000, <i32>CStatus.True, 9000)).toBe(true);
    expect(t.items[Cond.Ready].transitionMs).toBe(20000);
  });
  it("leaves our own flip alone while it is on its way", () => {
    const t = ready(CStatus.False, 7000);
    expect(t.reconcile(Cond.Ready, <i32>CStatus.True, 1000, <i32>CStatus.True, 9000)).toBe(false);
    expect(t.items[Cond.Ready].transitionMs).toBe(7000);
  });
  it("keeps the later time under the same status, and pushes ours over an older one", () => {
    const t = ready(CStatus.True, 1000);
    expect(t.reconcile(Cond.Ready, <i32>CStatus.True, 4000, <i32>CStatus.True, 9000)).toBe(false);
    expect(t.items[Cond.Ready].transitionMs).toBe(4000);
    expect(t.reconcile(Cond.Ready, <i32>CStatus.True, 4000, <i32>CStatus.True, 9000)).toBe(false);
    expect(t.reconcile(Cond.Ready, <i32>CStatus.True, 2000, <i32>CStatus.True, 9000)).toBe(true);
    expect(t.items[Cond.Ready].transitionMs).toBe(4000);
    // Whole seconds compare equal (the wire carries seconds).
    const u = ready(CStatus.True, 4500);
    expect(u.reconcile(Cond.Ready, <i32>CStatus.True, 4000, <i32>CStatus.True, 9000)).toBe(false);
    // An unreadable time is no information.
    expect(u.reconcile(Cond.Ready, <i32>CStatus.True, -1, <i32>CStatus.True, 9000)).toBe(false);
  });
});
