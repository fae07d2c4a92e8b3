"""Rebuilds a job's damaged manifest from the segments that verify (``gpurender status JOB --repair``).

A manifest whose chunk records were lost, duplicated or edited no longer says which frames each
segment holds, and resuming from it would give a wrong video; deleting the job folder would throw
away every finished segment. Repair keeps the header (what the job renders: identity, settings,
frame span, chunk plan), restores the frame span, frame rate and format from the settings its
identity digest covers, lays the chunk records out again from the plan, and marks a chunk done
only when its segment verifies:

- by its old record: same frames, same size and SHA-256 as recorded (as ``--resume`` checks), or
- when the record is gone or was edited: the segment decodes to the end with exactly the chunk's
  number of frames, in the job's codec and size, and the encoder that wrote it is known.

Every other chunk goes back to ``pending`` and ``--resume`` renders it again. A header that is
itself damaged cannot be rebuilt (nothing else records what the job renders).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import one_line
from .identity import file_digest
from .job import JobDir, segment_name
from .manifest import (MANIFEST_NAME, ChunkRecord, Manifest, ManifestError, _Bad, parse_chunk, parse_chunks,
                       parse_header, read_manifest_data, settings_trusted)
from .plan import segment_gop

# Text an encoder writes into its first packet (an unregistered-user-data SEI), telling it apart
# from the GPU encoder of the same codec, which writes none.
SIGNATURES = {"libx264": b"x264 - core", "libx265": b"x265 (build"}


@dataclass
class RepairReport:
    """What :func:`repair_job` found: chunks kept, and chunks to render again with the reason."""

    job_dir: str
    chunks: int
    kept: list[int] = field(default_factory=list)
    decoded: list[int] = field(default_factory=list)  # kept because their segment decoded (no usable record)
    again: dict[int, str] = field(default_factory=dict)  # every chunk not kept, and why
    problem: str = ""  # what was wrong with the manifest ("" if nothing was)

    def lines(self) -> list[str]:
        damaged = f", which was damaged: {self.problem}" if self.problem else ""
        out = [f"rebuilt the manifest of {self.job_dir}{damaged}"]
        out.append(f"  {len(self.kept)} of {self.chunks} chunks kept: their segments verify"
                   + (f" ({len(self.decoded)} by decoding, their records were lost or edited)" if self.decoded else ""))
        for index, why in sorted(self.again.items()):
            out.append(f"  chunk {index}: {why}; --resume renders it")
        if len(self.kept) < self.chunks:
            out.append("  to finish: run the same render command again with --resume")
        else:
            out.append("  every chunk is done: run the same render command again with --resume to join them")
        return out


def repair_job(path) -> RepairReport:
    """Rebuild ``path``'s manifest from the segments that verify; :class:`ManifestError` when it cannot be."""
    path = Path(path)
    where = str(path / MANIFEST_NAME)
    data = read_manifest_data(path)
    header = parse_header(data, where, path)
    manifest = Manifest(chunks=[], **header)
    if not settings_trusted(manifest):
        raise ManifestError(
            f"job manifest {where!r} cannot be rebuilt: its settings do not match the digest in its identity, so "
            f"nothing says what the job renders; delete the job folder {str(path)!r} to start over"
        )
    try:
        old_problem = replace(manifest, chunks=parse_chunks(data.get("chunks"))).coverage_problem()
    except _Bad as exc:
        old_problem = str(exc)
    s = manifest.settings
    manifest.first, manifest.count, manifest.fps, manifest.format = s["first"], s["count"], s["fps"], s["format"]
    try:
        planned = manifest.planned()
    except Exception as exc:  # noqa: BLE001 - a plan that does not fit the span: nothing to lay out
        raise ManifestError(
            f"job manifest {where!r} cannot be rebuilt: its plan {manifest.plan} does not fit frames "
            f"{manifest.first}-{manifest.first + manifest.count - 1} ({exc}); delete the job folder {str(path)!r} "
            f"to start over"
        ) from None
    manifest.gop = segment_gop(planned)

    old: dict[int, list[ChunkRecord]] = {}
    raw = data.get("chunks")
    for item in raw if isinstance(raw, list) else []:
        try:
            record = parse_chunk(item)
        except _Bad:
            continue  # a malformed record says nothing a segment can be checked against
        old.setdefault(record.index, []).append(record)

    job = JobDir(path, manifest)
    job.lock()
    try:
        job.segments.mkdir(exist_ok=True)
        job.progress_dir.mkdir(exist_ok=True)
        job.clean_partials()
        report = RepairReport(job_dir=str(path), chunks=len(planned), problem=old_problem)
        records, unrecorded = [], []
        for chunk in planned:
            record = ChunkRecord(chunk.index, chunk.first, chunk.count)
            records.append(record)
            segment = job.segments / segment_name(chunk.index)
            if not segment.is_file():
                done = any(r.state == "done" for r in old.get(chunk.index, []))
                report.again[chunk.index] = "its segment is missing" if done else "it has no segment"
                continue
            size, digest = segment.stat().st_size, file_digest(segment)
            for candidate in old.get(chunk.index, []):
                if (candidate.state == "done" and (candidate.first, candidate.count) == (chunk.first, chunk.count)
                        and candidate.bytes == size and candidate.sha256 == digest):
                    records[-1] = replace(candidate, segment=segment.name, error="")
                    report.kept.append(chunk.index)
                    break
            else:
                unrecorded.append((record, segment, size, digest))
        peers = sorted({r.encoder for r in records if r.state == "done" and r.encoder})
        for record, segment, size, digest in unrecorded:
            why, encoder = probe_segment(segment, record.count, s, peers)
            if why:
                report.again[record.index] = f"its segment cannot be trusted ({why})"
                continue
            record.state, record.segment, record.bytes, record.sha256 = "done", segment.name, size, digest
            record.encoder = encoder
            report.kept.append(record.index)
            report.decoded.append(record.index)
        report.kept.sort()
        manifest.chunks = records
        job.save()
    finally:
        job.close()
    return report


def probe_segment(path: Path, count: int, settings: dict, peers=()) -> tuple[str, str]:
    """Decode a segment to the end: (why it cannot be used, or "", and the encoder that wrote it).

    ``settings`` are the job's (codec, width, height); ``peers`` the encoders of the job's
    verified segments, used when the segment itself does not tell.
    """
    import av

    codec, width, height = settings.get("codec"), settings.get("width"), settings.get("height")
    frames, head = 0, b""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return "it holds no video", ""
            stream = container.streams.video[0]
            found = stream.codec_context.codec.canonical_name
            if codec and found != codec:
                return f"it holds {found} video, the job renders {codec}", ""
            head = bytes(stream.codec_context.extradata or b"")
            first = True
            for packet in container.demux(stream):
                if packet.size and first:
                    head, first = head + bytes(packet), False
                for frame in packet.decode():
                    if (frame.width, frame.height) != (width, height):
                        return f"its frames are {frame.width}x{frame.height}, the job renders {width}x{height}", ""
                    frames += 1
    except (av.FFmpegError, OSError, ValueError) as exc:
        return f"it does not decode: {one_line(exc)}", ""
    if frames != count:
        return f"it holds {frames} frames, the chunk has {count}", ""
    encoder = _encoder_of(codec, head, peers)
    if not encoder:
        return "nothing tells which encoder wrote it, and segments join only if one encoder wrote them all", ""
    return "", encoder


def _encoder_of(codec: str, head: bytes, peers) -> str:
    """The encoder that wrote a segment whose codec headers and first packet are ``head``."""
    from ..encode.encoders import CPU_ENCODER, NVENC

    cpu = CPU_ENCODER.get(codec, "")
    mark = SIGNATURES.get(cpu)
    if mark:
        return cpu if mark in head else NVENC[codec]  # the CPU encoder always signs its stream
    if codec not in NVENC:
        return cpu  # one encoder makes this codec
    return peers[0] if len(peers) == 1 else ""
