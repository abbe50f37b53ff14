"""Records of the NDFileHDF5 and NDPva plugins, in the form of :mod:`ioc.adcore_records`.

Transcribed from areaDetector/ADCore (commit ee039d24, 2026-07-20):

* NDFileHDF5.template  (includes NDFile.template and NDPluginBase.template); start-up values
                       the driver sets in NDFileHDF5.cpp's constructor (ChunkSizeAuto 1,
                       BoundaryThreshold 65536, ExtraDimSize* 1, StoreAttr 1, StorePerform 1,
                       SZipNumPixels 16, ZLevel 6, BloscShuffle Byte, BloscLevel 5, JPEGQuality
                       90, NumDataBits 8, XMLValid Yes, extra dimension names);
* NDPva.template       (includes NDPluginBase.template): PvName_RBV only.

Combine per prefix as the templates include them: HDF1: ND_PLUGIN_BASE + ND_FILE +
ND_FILE_HDF5; Pva1: ND_PLUGIN_BASE + ND_PVA.
"""

from .adcore_records import NO_YES, Record

_DIMS = ("N", "X", "Y", "3", "4", "5", "6", "7", "8", "9")
_DIM_NAMES = {"N": "frame number n", "X": "scan dimension X", "Y": "scan dimension Y"}
COMPRESSIONS = ("None", "N-bit", "szip", "zlib", "Blosc", "BSLZ4", "LZ4", "JPEG")
BLOSC_SHUFFLES = ("None", "Byte", "Bit")
BLOSC_COMPRESSORS = ("BloscLZ", "LZ4", "LZ4HC", "SNAPPY", "ZLIB", "ZSTD")
OFF_ON = ("Off", "On")

ND_FILE_HDF5: tuple[Record, ...] = (
    Record('FlushNow', 'busy', 0, enum_strings=('Done', 'Flush'), doc='flush the open file now (SWMR)'),
    Record('FileFormat', 'mbbo', 0, rbv=True, enum_strings=('HDF5', 'Invalid'),
           doc='file data format (FileFormat_RBV menu: HDF5/Undefined)'),
    Record('ChunkSizeAuto', 'bo', 1, rbv=True, enum_strings=NO_YES, doc='chunk = one frame of rows x columns'),
    Record('NumRowChunks', 'longout', 0, rbv=True, doc='chunk size, rows (dimension 0)'),
    Record('NumColChunks', 'longout', 0, rbv=True, doc='chunk size, columns (dimension 1)'),
    *(Record(f'ChunkSize{i}', 'longout', 0, rbv=True, doc=f'chunk size, dimension {i}') for i in range(2, 10)),
    Record('NumFramesChunks', 'longout', 0, rbv=True, doc='frames per chunk'),
    Record('NDAttributeChunk', 'longout', 0, rbv=True, doc='NDAttribute dataset chunk size'),
    Record('BoundaryAlign', 'longout', 0, rbv=True, units='bytes', doc='chunk boundary alignment'),
    Record('BoundaryThreshold', 'longout', 65536, rbv=True, units='bytes', doc='alignment threshold'),
    Record('NumExtraDims', 'longout', 0, rbv=True, doc='number of extra dimensions'),
    *(rec for d in _DIMS for rec in (
        Record(f'ExtraDimSize{d}', 'longout', 1, rbv=True, doc=f'size of extra dimension {d}'),
        Record(f'ExtraDimName{d}_RBV', 'stringin', _DIM_NAMES.get(d, f'scan dimension {_DIMS.index(d) - 1}'),
               doc=f'name of extra dimension {d}'),
    )),
    Record('StoreAttr', 'bo', 1, rbv=True, enum_strings=NO_YES, doc='store NDAttributes'),
    Record('StorePerform', 'bo', 1, rbv=True, enum_strings=NO_YES, doc='store performance data'),
    Record('RunTime', 'ai', 0.0, units='s', precision=3, doc='time to write the last file'),
    Record('IOSpeed', 'ai', 0.0, units='Mbit/s', precision=1, doc='write speed of the last file'),
    Record('NumFramesFlush', 'longout', 0, rbv=True, doc='flush every N frames (0: at close)'),
    Record('Compression', 'mbbo', 0, rbv=True, enum_strings=COMPRESSIONS, doc='compression filter'),
    Record('NumDataBits', 'longout', 8, rbv=True, units='bit', doc='N-bit filter: data bits'),
    Record('DataBitsOffset', 'longout', 0, rbv=True, units='bit', doc='N-bit filter: bit offset'),
    Record('SZipNumPixels', 'longout', 16, rbv=True, units='bit', doc='szip filter: pixels per block'),
    Record('ZLevel', 'longout', 6, rbv=True, doc='zlib compression level'),
    Record('BloscShuffle', 'mbbo', 1, rbv=True, enum_strings=BLOSC_SHUFFLES, doc='Blosc shuffle'),
    Record('BloscCompressor', 'mbbo', 0, rbv=True, enum_strings=BLOSC_COMPRESSORS, doc='Blosc compressor'),
    Record('BloscLevel', 'longout', 5, rbv=True, doc='Blosc compression level'),
    Record('JPEGQuality', 'longout', 90, rbv=True, doc='JPEG filter quality'),
    Record('DimAttDatasets', 'bo', 0, rbv=True, enum_strings=NO_YES, doc='store dimension attributes'),
    Record('XMLErrorMsg_RBV', 'waveform', '', ftvl='CHAR', nelm=256, doc='layout XML error message'),
    Record('XMLValid_RBV', 'bi', 1, enum_strings=NO_YES, doc='layout XML valid'),
    Record('XMLFileName', 'waveform', '', rbv=True, ftvl='CHAR', nelm=2048,
           doc='layout XML file (empty: the default layout)'),
    Record('SWMRSupported_RBV', 'bi', 1, enum_strings=('Not Supported', 'Supported'), doc='SWMR supported'),
    Record('SWMRMode', 'bo', 0, rbv=True, enum_strings=OFF_ON, doc='single writer, multiple readers'),
    Record('SWMRActive_RBV', 'bi', 0, enum_strings=('Off', 'Active'), doc='SWMR file open'),
    Record('SWMRCbCounter_RBV', 'longin', 0, doc='SWMR flushes'),
    Record('PositionMode', 'bo', 0, rbv=True, enum_strings=OFF_ON, doc='position frames by NDAttributes'),
    *(Record(f'PosNameDim{d}', 'stringout', '', rbv=True, doc=f'position attribute name, dimension {d}')
      for d in _DIMS),
    *(Record(f'PosIndexDim{d}', 'stringout', '', rbv=True, doc=f'position index attribute, dimension {d}')
      for d in _DIMS),
    Record('FillValue', 'ao', 0.0, rbv=True, precision=1, doc='fill value of the dataset'),
    *(Record(f'ExtraDimChunk{d}', 'longout', 0, rbv=True, doc=f'chunk size, extra dimension {d}')
      for d in _DIMS[1:]),
)

ND_PVA: tuple[Record, ...] = (
    Record('PvName_RBV', 'waveform', '', ftvl='CHAR', nelm=256, doc='name of the NTNDArray PV'),
)
