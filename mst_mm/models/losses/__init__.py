from .self_distillation_loss import SelfDistillationLoss

__all__ = ['SelfDistillationLoss']
