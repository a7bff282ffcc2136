import { parseConfig, isSubdomain, isQualifiedName, isLabelValue } from "../../assembly/node/config";
import { utf8 } from "../../assembly/util/bytes";

const BAD_BOOTSTRAP: string[] = ["07401B.f395accd246ae52d", "07401b:f395accd246ae52d", "0740.f395accd246ae52d", "07401b.f395accd246ae52", "07401b.f395accd246ae52dd", "07401b f395accd246ae52d"];

function cfg(json: string): string[] {
  const b = utf8(json);
  return parseConfig(b.ptr, b.length).errors;
}

describe("configuration", () => {
  it("accepts the minimum and fills in defaults", () => {
    const b = utf8('{"nodeName":"esp-node-01-guenther","apiHost":"192.168.0.103"}');
    const c = parseConfig(b.ptr, b.length);
    expect(c.errors.length).toBe(0);
    expect(c.apiPort).toBe(6443);
    expect(c.serverName).toBe("192.168.0.103");
    expect(c.labels.length).toBe(7);
    expect(c.labels[0].key).toBe("kubernetes.io/hostname");
    expect(c.labels[0].value).toBe("esp-node-01-guenther");
    expect(c.taints.length).toBe(1);
    expect(c.taints[0].effect).toBe("NoSchedule");
    expect(c.capacity.length).toBe(3);
    expect(c.leaseDurationSeconds).toBe(40);
    expect(c.renewIntervalMs).toBe(10000);
    expect(c.requestTimeoutMs).toBe(10000);
  });
  it("merges labels, overrides capacity and allows no taints", () => {
    const b = utf8('{"nodeName":"n","apiHost":"h","labels":{"arch":"riscv","rack":"a1"},"taints":[],"capacity":{"pods":"2"},"renewIntervalMs":2000,"requestTimeoutMs":9000}');
    const c = parseConfig(b.ptr, b.length);
    expect(c.errors.length).toBe(0);
    expect(c.labels.length).toBe(8);
    expect(c.labels[5].value).toBe("riscv");
    expect(c.labels[7].key).toBe("rack");
    expect(c.taints.length).toBe(0);
    expect(c.capacity.length).toBe(1);
    expect(c.requestTimeoutMs).toBe(2000);
  });
  it("takes a bootstrap token of the API server's form, never with a bearer token", () => {
    const b = utf8('{"nodeName":"n","apiHost":"h","bootstrapToken":"07401b.f395accd246ae52d"}');
    const c = parseConfig(b.ptr, b.length);
    expect(c.errors.length).toBe(0);
    expect(c.bootstrapToken).toBe("07401b.f395accd246ae52d");
    expect(c.token).toBe("");
    for (let i = 0; i < BAD_BOOTSTRAP.length; i++) {
      const e = cfg('{"nodeName":"n","apiHost":"h","bootstrapToken":"' + BAD_BOOTSTRAP[i] + '"}');
      expect(e.length).toBe(1, BAD_BOOTSTRAP[i]);
      expect(e[0].includes("'bootstrapToken' must be a bootstrap token")).toBe(true, e[0]);
      expect(e[0].includes(BAD_BOOTSTRAP[i])).toBe(false, "the value is not echoed");
    }
    const both = cfg('{"nodeName":"n","apiHost":"h","token":"x","bootstrapToken":"07401b.f395accd246ae52d"}');
    expect(both.length).toBe(1);
    expect(both[0].includes("exclude each other")).toBe(true, both[0]);
  });
  it("trusts brain pods from picokubelet-system unless brainNamespaces says otherwise", () => {
    const d = utf8('{"nodeName":"n","apiHost":"h"}');
    const def = parseConfig(d.ptr, d.length);
    expect(def.brainNamespaces.length).toBe(1);
    expect(def.brainNamespaces[0]).toBe("picokubelet-system");
    const b = utf8('{"nodeName":"n","apiHost":"h","brainNamespaces":["lab","brains","lab"]}');
    const c = parseConfig(b.ptr, b.length);
    expect(c.errors.length).toBe(0);
    expect(c.brainNamespaces.length).toBe(2);
    expect(c.brainNamespaces[1]).toBe("brains");
    const e = utf8('{"nodeName":"n","apiHost":"h","brainNamespaces":[]}');
    const none = parseConfig(e.ptr, e.length);
    expect(none.errors.length).toBe(0);
    expect(none.brainNamespaces.length).toBe(0, "[] trusts none");
    const bad = ['"picokubelet-system"', '["Bad_NS"]', '["a.b"]', '[1]', '[{"name":"x"}]', '{"x":1}'];
    for (let i = 0; i < bad.length; i++) {
      const errs = cfg('{"nodeName":"n","apiHost":"h","brainNamespaces":' + bad[i] + '}');
      expect(errs.length).toBe(1, bad[i]);
      expect(errs[0].includes("'brainNamespaces' must be an array of namespace names")).toBe(true, errs[0]);
    }
    const many = cfg('{"nodeName":"n","apiHost":"h","brainNamespaces":["a","b","c","d","e","f","g","h","i","j"]}');
    expect(many.length).toBe(1);
    expect(many[0].includes("at most 8")).toBe(true, many[0]);
  });
  it("refuses bad documents with one message per problem", () => {
    expect(cfg("not json")[0].includes("not valid JSON")).toBe(true, "not valid JSON");
    expect(cfg("[]")[0].includes("JSON object")).toBe(true, "JSON object");
    expect(cfg("{}").length).toBe(2);
    expect(cfg('{"nodeName":"Bad_Name","apiHost":"h"}')[0].includes("RFC 1123")).toBe(true, "RFC 1123");
    expect(cfg('{"nodeName":"n","apiHost":"h","nodename":"typo"}')[0].includes("unknown key 'nodename'")).toBe(true, "unknown key 'nodename'");
    expect(cfg('{"nodeName":"n","apiHost":"h","apiPort":70000}')[0].includes("'apiPort'")).toBe(true, "'apiPort'");
    expect(cfg('{"nodeName":"n","apiHost":"h","apiPort":"6443"}')[0].includes("'apiPort'")).toBe(true, "'apiPort'");
    expect(cfg('{"nodeName":"n","apiHost":"h","renewIntervalMs":40000}')[0].includes("shorter")).toBe(true, "shorter");
    expect(cfg('{"nodeName":"n","apiHost":"h x"}')[0].includes("apiHost")).toBe(true, "apiHost");
    expect(cfg('{"nodeName":"n","apiHost":"h","taints":[{"key":"k","effect":"Sometimes"}]}')[0].includes("effect")).toBe(true, "effect");
    expect(cfg('{"nodeName":"n","apiHost":"h","labels":{"bad key":"v"}}')[0].includes("label key")).toBe(true, "label key");
    expect(cfg('{"nodeName":"n","apiHost":"h","mac":"zz:zz"}')[0].includes("mac")).toBe(true, "mac");
    expect(cfg('{"nodeName":"n","apiHost":"h","logLevel":"loud"}')[0].includes("logLevel")).toBe(true, "logLevel");
  });
  it("never echoes the token in an error", () => {
    const errs = cfg('{"nodeName":"n","apiHost":"h","token":"secret value"}');
    expect(errs.length).toBe(1);
    expect(errs[0].includes("secret")).toBe(false);
  });
  it("validates names and labels like Kubernetes", () => {
    expect(isSubdomain("a")).toBe(true);
    expect(isSubdomain("esp-node-01.lab")).toBe(true);
    expect(isSubdomain("-a")).toBe(false);
    expect(isSubdomain("a-")).toBe(false);
    expect(isSubdomain("a..b")).toBe(false);
    expect(isSubdomain("A")).toBe(false);
    expect(isSubdomain("a".repeat(64))).toBe(false);
    expect(isSubdomain("a".repeat(63) + "." + "b".repeat(63))).toBe(true);
    expect(isQualifiedName("node.kubernetes.io/instance-type")).toBe(true);
    expect(isQualifiedName("/x")).toBe(false);
    expect(isLabelValue("")).toBe(true);
    expect(isLabelValue("a_b.c-d")).toBe(true);
    expect(isLabelValue("_a")).toBe(false);
  });
});
