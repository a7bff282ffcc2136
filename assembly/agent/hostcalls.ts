/** The host_call extension point lives in node/hostcalls.ts (the certificate managers call it too); one instance, the Context's. */
export { HostCalls } from "../node/hostcalls";
