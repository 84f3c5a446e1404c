/** A Host for core tests: records every approval request and answers from a script (default: yes). */
import type { ApprovalAnswer, ApprovalRequest, Diagnostic, Host, ProposedChange } from "../../src/core/host.js";

export class FakeHost implements Host {
  readonly approvals: ApprovalRequest[] = [];
  answers: ApprovalAnswer[] = [];
  diagnosticsList: Diagnostic[] = [];
  /** Every preview shown while calls streamed, in order; `undefined` is a close. */
  readonly previews: [string, ProposedChange | undefined][] = [];
  onPreview: (callId: string, change: ProposedChange | undefined) => void = () => undefined;

  constructor(readonly workspaceRoot: string) {}

  async approve(request: ApprovalRequest): Promise<ApprovalAnswer> {
    this.approvals.push(request);
    return this.answers.shift() ?? { approved: true };
  }

  preview(callId: string, change: ProposedChange | undefined): void {
    this.previews.push([callId, change]);
    this.onPreview(callId, change);
  }

  async diagnostics(paths: readonly string[] | undefined): Promise<Diagnostic[]> {
    return paths ? this.diagnosticsList.filter((d) => paths.includes(d.path)) : this.diagnosticsList;
  }
}
