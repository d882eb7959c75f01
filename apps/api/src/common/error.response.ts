import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** Swagger's picture of every error body. */
export class ErrorResponse {
  @ApiProperty({ example: 400 }) statusCode!: number;
  @ApiProperty({ example: 'VALIDATION_FAILED' }) code!: string;
  @ApiProperty({ example: 'resources.vcpus must not be less than 0.001' }) message!: string;
  @ApiPropertyOptional({ type: [String] }) errors?: string[];
}
