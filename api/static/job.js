// A job's detail: GET /jobs/<id>, followed with ?wait= until it ends.
"use strict";

const detail = document.getElementById("job-detail");

function field(name, value) {
  return value === null || value === undefined || value === "" ? null : [h("dt", { class: "col-4 col-md-2" }, name), h("dd", { class: "col-8 col-md-10 mb-1" }, value)];
}

function render(job) {
  detail.replaceChildren(
    h("dl", { class: "row mb-2 small" },
      field("Status", jobBadge(job.status)), field("Kind", job.kind), field("Client", job.client_id), field("Created", isoClock(job.created_at)),
      field("Started", isoClock(job.started_at)), field("Ended", isoClock(job.ended_at)), field("Outcome", jobOutcome(job)), field("Error", job.error)),
    h("details", { open: true }, h("summary", { class: "small" }, "As the API answers it"), h("pre", { class: "small bg-body-tertiary p-2 mb-0 job-json" }, JSON.stringify(job, null, 2))));
}

followJob(detail.dataset.jobId, (job) => (job.status === "unknown" ? flash(detail, "danger", job.error) : render(job)));
