from .multi_crop_data_preprocessor import MultiCropDataPreprocessor

__all__ = ['MultiCropDataPreprocessor']
