/**
 * `/pods`: the pods this node holds, as a v1 PodList (what `kubectl get --raw
 * /api/v1/nodes/<node>/proxy/pods` shows): each pod's identity, its containers and the status this node
 * reports for it. Written one pod per piece.
 */
import { ByteBuffer } from "../util/bytes";
import { JsonWriter } from "../json/writer";
import { writePodStatus } from "../pods/podstatus";
import { Kubelet } from "../agent/agent";
import { PIECE_BYTES, Produced, Producer } from "./producer";

export class PodList extends Producer {
  private next: i32 = -1;

  constructor(private k: Kubelet) {
    super();
  }

  more(out: ByteBuffer, now: i64): Produced {
    const pods = this.k.pods.pods;
    const start = out.length;
    if (this.next < 0) {
      out.str('{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[');
      this.next = 0;
    }
    while (this.next < pods.length && out.length - start < PIECE_BYTES) {
      if (this.next > 0) out.byte(0x2c);
      const pod = pods[this.next++];
      const w = new JsonWriter(out);
      w.beginObject();
      w.key("metadata").beginObject().field("name", pod.name).field("namespace", pod.namespace).field("uid", pod.uid).endObject();
      w.key("spec").beginObject().field("nodeName", this.k.ctx.cfg.nodeName);
      if (pod.hostNetwork) w.key("hostNetwork").bool(true);
      w.key("containers").beginArray();
      for (let c = 0; c < pod.containers.length; c++) {
        w.beginObject().field("name", pod.containers[c]).field("image", c < pod.images.length ? pod.images[c] : "").endObject();
      }
      w.endArray().endObject();
      w.key("status");
      writePodStatus(w, pod, this.k.ctx.identity.ip);
      w.endObject();
    }
    if (this.next < pods.length) return Produced.More;
    out.str("]}\n");
    return Produced.Done;
  }
}
