"""The demo model's configurations, written as diffusers 0.27 / transformers write them."""

UNET = {
    '_class_name': 'UNet2DConditionModel', '_diffusers_version': '0.27.2', 'act_fn': 'silu',
    'addition_embed_type': None, 'addition_embed_type_num_heads': 64, 'addition_time_embed_dim': None,
    'attention_head_dim': 8, 'attention_type': 'default', 'block_out_channels': [32, 64, 64, 64],
    'center_input_sample': False, 'class_embed_type': None, 'class_embeddings_concat': False,
    'conv_in_kernel': 3, 'conv_out_kernel': 3, 'cross_attention_dim': 32, 'cross_attention_norm': None,
    'down_block_types': ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
    'downsample_padding': 1, 'dropout': 0.0, 'dual_cross_attention': False, 'encoder_hid_dim': None,
    'encoder_hid_dim_type': None, 'flip_sin_to_cos': True, 'freq_shift': 0, 'in_channels': 4, 'layers_per_block': 1,
    'mid_block_only_cross_attention': None, 'mid_block_scale_factor': 1, 'mid_block_type': 'UNetMidBlock2DCrossAttn',
    'norm_eps': 1e-05, 'norm_num_groups': 16, 'num_attention_heads': None, 'num_class_embeds': None,
    'only_cross_attention': False, 'out_channels': 4, 'projection_class_embeddings_input_dim': None,
    'resnet_out_scale_factor': 1.0, 'resnet_skip_time_act': False, 'resnet_time_scale_shift': 'default',
    'reverse_transformer_layers_per_block': None, 'sample_size': 8, 'time_cond_proj_dim': None,
    'time_embedding_act_fn': None, 'time_embedding_dim': None, 'time_embedding_type': 'positional',
    'timestep_post_act': None, 'transformer_layers_per_block': 1,
    'up_block_types': ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
    'upcast_attention': False, 'use_linear_projection': False,
}

VAE = {
    '_class_name': 'AutoencoderKL', '_diffusers_version': '0.27.2', 'act_fn': 'silu',
    'block_out_channels': [64, 64, 64, 64],
    'down_block_types': ['DownEncoderBlock2D'] * 4, 'force_upcast': True, 'in_channels': 3, 'latent_channels': 4,
    'latents_mean': None, 'latents_std': None, 'layers_per_block': 1, 'norm_num_groups': 32, 'out_channels': 3,
    'sample_size': 64, 'scaling_factor': None,  # set from the trained VAE's latent std at export
    'up_block_types': ['UpDecoderBlock2D'] * 4,
}

TEXT_ENCODER = {
    '_name_or_path': 'sd-webgpu-demo-text-encoder', 'architectures': ['CLIPTextModel'], 'attention_dropout': 0.0,
    'bos_token_id': 0, 'dropout': 0.0, 'eos_token_id': 2, 'hidden_act': 'quick_gelu', 'hidden_size': 32,
    'initializer_factor': 1.0, 'initializer_range': 0.02, 'intermediate_size': 128, 'layer_norm_eps': 1e-05,
    'max_position_embeddings': 77, 'model_type': 'clip_text_model', 'num_attention_heads': 4, 'num_hidden_layers': 3,
    'pad_token_id': 1, 'projection_dim': 32, 'torch_dtype': 'float32', 'transformers_version': '4.25.1',
    'vocab_size': 49408,
}

# SD 1.x's scheduler config (PNDM/PLMS; the eval and the pipeline can pick another scheduler with the same schedule)
SCHEDULER = {
    '_class_name': 'PNDMScheduler', '_diffusers_version': '0.27.2', 'beta_end': 0.012, 'beta_schedule': 'scaled_linear',
    'beta_start': 0.00085, 'clip_sample': False, 'num_train_timesteps': 1000, 'prediction_type': 'epsilon',
    'set_alpha_to_one': False, 'skip_prk_steps': True, 'steps_offset': 1, 'timestep_spacing': 'leading',
    'trained_betas': None,
}

MODEL_INDEX = {
    '_class_name': 'StableDiffusionPipeline', '_diffusers_version': '0.27.2', 'feature_extractor': [None, None],
    'requires_safety_checker': False, 'safety_checker': [None, None], 'scheduler': ['diffusers', 'PNDMScheduler'],
    'text_encoder': ['transformers', 'CLIPTextModel'], 'tokenizer': ['transformers', 'CLIPTokenizer'],
    'unet': ['diffusers', 'UNet2DConditionModel'], 'vae': ['diffusers', 'AutoencoderKL'],
}
