"""Commands about chunked render jobs: ``status`` shows what a job directory holds and what is left,
and with ``--repair`` rebuilds a damaged manifest from the segments that verify."""

from __future__ import annotations

import json
import time

import click


@click.command()
@click.argument("job_dir", type=click.Path(file_okay=False))
@click.option("--verify", is_flag=True, help="also check every finished segment against its checksum")
@click.option("--json", "as_json", is_flag=True, help="print the manifest (with live progress) as JSON")
@click.option("--repair", is_flag=True,
              help="rebuild a damaged manifest from the segments that verify (the others are rendered again)")
def status(job_dir, verify, as_json, repair):
    """Show what is done in JOB_DIR, the job directory of a chunked render."""
    from ..farm import JobDir, load_manifest, repair_job
    from ..farm.manifest import coverage_error
    from ..progress import clock

    if repair:
        for line in repair_job(job_dir).lines():
            click.echo(line)
        return
    manifest = load_manifest(job_dir)
    damaged = coverage_error(manifest, job_dir)
    job = JobDir(job_dir, manifest)
    live = job.in_flight()
    problems = {}
    for record in manifest.chunks:
        if record.state == "done":
            reason = job.verify(record, checksum=verify)
            if reason:
                problems[record.index] = reason
    if as_json:
        data = manifest.to_dict()
        for chunk in data["chunks"]:
            chunk["frames_in_flight"] = live.get(chunk["index"])
            chunk["problem"] = problems.get(chunk["index"], "")
        data["damaged"] = damaged
        click.echo(json.dumps(data, indent=1))
        return
    counts = manifest.counts()
    total = len(manifest.chunks)
    frames_done = manifest.frames_done + sum(live.values())
    s = manifest.settings
    click.echo(f"job {job.path}  ->  {manifest.output}")
    click.echo(f"  {s.get('width')}x{s.get('height')} at {manifest.fps} fps, {manifest.format} "
               f"({s.get('codec')}{', lossless' if s.get('lossless') else ''}), frames {manifest.first}-"
               f"{manifest.first + manifest.count - 1}, gpurender {manifest.version}, job {manifest.identity.job[:12]}")
    age = time.time() - manifest.updated if manifest.updated else 0.0
    click.echo(f"  chunks: {counts['done']}/{total} done, {counts['running']} running, {counts['failed']} failed, "
               f"{counts['pending']} pending; frames {frames_done}/{manifest.count} "
               f"({100.0 * frames_done / max(manifest.count, 1):.1f}%); updated {clock(age)} ago")
    click.echo(f"  {'chunk':>5}  {'frames':>13}  {'state':<8} {'seconds':>8} {'tries':>5}  encoder / host / note")
    for r in manifest.chunks:
        span = f"{r.first}-{r.first + r.count - 1}"
        note = r.error or problems.get(r.index, "")
        if r.state == "running" and r.index in live:
            note = f"{live[r.index]}/{r.count} frames"
        who = " / ".join(x for x in (r.encoder, r.host) if x)
        secs = f"{r.seconds:.1f}" if r.state == "done" else ""
        tries = str(r.attempts) if r.attempts else ""
        click.echo(f"  {r.index:>5}  {span:>13}  {r.state:<8} {secs:>8} {tries:>5}  "
                   + "  ".join(x for x in (who, note) if x))
    if damaged:
        click.echo(f"  --resume refuses this job: {damaged}")
        return
    if problems:
        click.echo(f"  {len(problems)} finished segment(s) are damaged or missing; --resume renders them again")
    if counts["done"] < total:
        click.echo("  to continue: run the same render command again with --resume")


COMMANDS = (status,)
