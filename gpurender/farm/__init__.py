"""The farm stage: chunked, resumable renders, in this process or on a Ray cluster.

A render is split into chunks of consecutive frames (:mod:`.plan`); each chunk is encoded to its
own segment in a job directory whose manifest records the job's identity and every chunk's state
and checksum (:mod:`.manifest`, :mod:`.job`); chunks run in-process (:mod:`.local`) or as Ray
tasks (:mod:`.rayfarm`, which alone imports Ray); the driver records outcomes and joins the
segments (:mod:`.driver`); a damaged manifest is rebuilt from the segments that verify
(:mod:`.repair`). :func:`gpurender.pipeline.render_video` with a :class:`JobOptions`
sequences it all, and muxes the audio once over the joined video.
"""

from .driver import FARMS, JobInterrupted, JobOptions, check_finished, join_segments, make_executor, run_chunks
from .identity import JobIdentity, audio_digest, job_identity, scene_digest
from .job import JobDir, default_job_dir, open_job
from .manifest import ChunkRecord, Manifest, ManifestError, check_coverage, load_manifest
from .plan import Chunk, plan_chunks, segment_gop
from .repair import RepairReport, repair_job
from .worker import ChunkResult, ChunkTask, run_chunk

__all__ = [
    "FARMS",
    "Chunk",
    "ChunkRecord",
    "ChunkResult",
    "ChunkTask",
    "JobDir",
    "JobIdentity",
    "JobInterrupted",
    "JobOptions",
    "Manifest",
    "ManifestError",
    "RepairReport",
    "audio_digest",
    "check_coverage",
    "check_finished",
    "default_job_dir",
    "job_identity",
    "join_segments",
    "load_manifest",
    "make_executor",
    "open_job",
    "plan_chunks",
    "repair_job",
    "run_chunk",
    "run_chunks",
    "scene_digest",
    "segment_gop",
]
