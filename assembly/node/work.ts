/** Tags of the requests the core makes; a response is routed back to its reconciler by tag. */
export enum Work {
  None = 0,
  /** GET /version, for the Date header. */
  Anchor = 1,
  /** POST the Node. */
  NodeCreate = 2,
  /** GET the Node after a 409 (adoption). */
  NodeGet = 3,
  /** PATCH our labels onto an adopted Node. */
  NodeLabels = 4,
  /** POST the Lease. */
  LeaseCreate = 5,
  /** PATCH an existing Lease to take it over (owner reference, holder, duration). */
  LeaseAdopt = 6,
  /** PATCH renewTime. */
  LeaseRenew = 7,
  /** PATCH node status. */
  Status = 8,
  /** PATCH the heap annotation. */
  Annotation = 9,
  /** DELETE the Lease (shutdown with cleanup). */
  DeleteLease = 10,
  /** DELETE the Node (shutdown with cleanup). */
  DeleteNode = 11,
  /** LIST the pods bound to the node. */
  PodList = 12,
  /** WATCH them (a stream, or WatchList with initial events). */
  PodWatch = 13,
  /** PATCH a pod's status. */
  PodStatus = 14,
  /** DELETE a terminated pod. */
  PodDelete = 15,
  /** POST an Event. */
  Event = 16,
  /** LIST our own Node (field selector on its name). */
  NodeList = 17,
  /** WATCH it. */
  NodeWatch = 18,
  /** POST a CertificateSigningRequest. */
  CsrCreate = 19,
  /** GET it until it is issued or denied. */
  CsrGet = 20,
  /** POST a TokenReview for a kubelet-port client's bearer token. */
  TokenReview = 21,
  /** POST a SubjectAccessReview for a kubelet-port request. */
  AccessReview = 22,
  /** GET an imagePullSecret of the brain pod (control lane). */
  BrainSecret = 23,
  /** GET a brain's manifest (registry lane). */
  BrainManifest = 24,
  /** GET a bearer token from the registry's realm. */
  BrainToken = 25,
  /** GET the brain's layer, streamed into the host's slot. */
  BrainBlob = 26,
}
