"""Datasets for the five chapters: manifests, location, verification, download, loading.

``open_dataset(name, split)`` is what a notebook calls; see ``covidnb/CONTRACTS.md`` for the
sample dict and dataset attributes, and ``data_manifests/*.yaml`` for the datasets.
"""

from covidnb.data import overview
from covidnb.data.base import BaseDataset, ImageFileDataset, file_sha256
from covidnb.data.cache import ImageCache
from covidnb.data.coronahack import CoronaHackDataset, read_coronahack_metadata
from covidnb.data.covidx import COVIDxDataset
from covidnb.data.ct_slices import CTSliceDataset
from covidnb.data.cxr import CXR3_CLASSES, CXRMetadataDataset, map_finding
from covidnb.data.fetch import FetchError, fetch
from covidnb.data.imageio import CorruptImageError, load_image, load_resized_uint8
from covidnb.data.leakage import check_leakage
from covidnb.data.locate import DatasetNotFound, find_dataset
from covidnb.data.manifest import (
    Manifest,
    ManifestError,
    list_manifests,
    load_manifest,
    validate_manifest,
)
from covidnb.data.nih import NIH_LABELS, NIHChestXray14, read_bbox_list, read_data_entry
from covidnb.data.records import MissingImageError, Record
from covidnb.data.registry import SyntheticDataWarning, open_dataset
from covidnb.data.rsna import RSNADataset
from covidnb.data.subsample import subsample
from covidnb.data.synthetic import (
    SYNTHETIC_BANNER,
    SyntheticCTSlices,
    SyntheticCXR,
    SyntheticCXR14,
    SyntheticVolumes,
    synthetic_warning,
)
from covidnb.data.verify import VerifyReport, verify
from covidnb.data.volumes import (
    COVID19CTSeg,
    MosMedData,
    VolumeDataset,
    VolumesMissing,
    load_nifti,
    read_mosmed_registry,
)

__all__ = [
    "CXR3_CLASSES",
    "NIH_LABELS",
    "SYNTHETIC_BANNER",
    "BaseDataset",
    "COVID19CTSeg",
    "COVIDxDataset",
    "CTSliceDataset",
    "CXRMetadataDataset",
    "CoronaHackDataset",
    "CorruptImageError",
    "DatasetNotFound",
    "FetchError",
    "ImageCache",
    "ImageFileDataset",
    "Manifest",
    "ManifestError",
    "MissingImageError",
    "MosMedData",
    "NIHChestXray14",
    "RSNADataset",
    "Record",
    "SyntheticCTSlices",
    "SyntheticCXR",
    "SyntheticCXR14",
    "SyntheticDataWarning",
    "SyntheticVolumes",
    "VerifyReport",
    "VolumeDataset",
    "VolumesMissing",
    "check_leakage",
    "fetch",
    "file_sha256",
    "find_dataset",
    "list_manifests",
    "load_image",
    "load_manifest",
    "load_nifti",
    "load_resized_uint8",
    "map_finding",
    "open_dataset",
    "overview",
    "read_bbox_list",
    "read_coronahack_metadata",
    "read_data_entry",
    "read_mosmed_registry",
    "subsample",
    "synthetic_warning",
    "validate_manifest",
    "verify",
]
